"""Intervals, fairness, multiclass and ranking metrics against direct numpy / sklearn references."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics import compute_performance, metric_direction
from perf_pipeline.metrics.performance import ALL, COLUMNS, FAIRNESS_GROUPS, NULL_SEGMENT
from perf_pipeline_tests.test_performance_metrics import (
    POSITIVE,
    START,
    THRESHOLD,
    WEIRD,
    _assert_close,
    _binary_truth,
    _group_rows,
    _groups,
    _register,
    _regression_frame,
    _values,
)

Z = 1.959963984540054


@pytest.fixture(scope="module")
def binary_data() -> pd.DataFrame:
    return _binary_truth()


@pytest.fixture(scope="module")
def binary_result(binary_data: pd.DataFrame) -> pd.DataFrame:
    model = ModelConfig(
        model_id="fraud_model",
        task=Task.BINARY_CLASSIFICATION,
        positive_class=POSITIVE,
        decision_threshold=THRESHOLD,
        segments=["region"],
        protected_attributes=[WEIRD, "region"],
        start_date=START,
    )
    con = duckdb.connect()
    _register(con, "scored", binary_data.drop(columns=["y", "yhat"]))
    return compute_performance(con, model, "scored")


@pytest.fixture(scope="module")
def regression_data() -> pd.DataFrame:
    return _regression_frame()


@pytest.fixture(scope="module")
def regression_result(regression_data: pd.DataFrame) -> pd.DataFrame:
    model = ModelConfig(
        model_id="demand", task=Task.REGRESSION, segments=["store"], start_date=START
    )
    con = duckdb.connect()
    _register(con, "scored", regression_data)
    return compute_performance(con, model, "scored")


def _fairness_reference(rows: pd.DataFrame, attribute: str) -> dict[str, float | None]:
    """Fairlearn-style group metrics; the unknown (NULL) group and undefined rates left out."""
    known = rows[rows[attribute].notna()]
    rates = known.groupby(attribute)["yhat"].mean()
    labelled = known[known["label"].notna() & known["y"]]
    tpr = labelled.groupby(attribute)["yhat"].mean()
    out: dict[str, float | None] = dict.fromkeys(
        ["demographic_parity_difference", "equal_opportunity_difference", "disparate_impact_ratio"]
    )
    if len(rates) >= 2:
        out["demographic_parity_difference"] = rates.max() - rates.min()
        out["disparate_impact_ratio"] = rates.min() / rates.max() if rates.max() > 0 else None
    if len(tpr) >= 2:
        out["equal_opportunity_difference"] = tpr.max() - tpr.min()
    return out


def test_fairness_rows(binary_result: pd.DataFrame, binary_data: pd.DataFrame) -> None:
    fairness = binary_result[binary_result["segment_value"] == FAIRNESS_GROUPS]
    assert set(fairness["segment_column"]) == {WEIRD, "region"}
    assert not fairness["is_estimated"].any()
    checked = 0
    for (day, attribute), group in fairness.groupby(["date", "segment_column"]):
        rows = binary_data[binary_data["date"] == day]
        actual = group.set_index("metric")
        for metric, want in _fairness_reference(rows, attribute).items():
            got = actual.loc[metric, "value"]
            _assert_close(None if pd.isna(got) else float(got), want, f"{day} {attribute} {metric}")
            checked += want is not None
        known = rows[rows[attribute].notna()]
        assert actual.loc["demographic_parity_difference", "n"] == len(known)
        coverage = rows["label"].notna().mean()
        assert actual["label_coverage"].to_numpy() == pytest.approx(coverage, rel=1e-9)
    assert checked >= 16
    # The day without labels still compares prediction rates, but not true-positive rates.
    last = fairness[fairness["date"] == START + dt.timedelta(days=3)].set_index("metric")
    assert last.loc["demographic_parity_difference", "value"].notna().all()
    assert last.loc["equal_opportunity_difference", "value"].isna().all()
    assert (last.loc["equal_opportunity_difference", "n"] == 0).all()


def test_auc_interval_is_hanley_mcneil(
    binary_result: pd.DataFrame, binary_data: pd.DataFrame
) -> None:
    checked = 0
    for (day, column, value), group in _groups(binary_result):
        row = group[(group["metric"] == "roc_auc") & ~group["is_estimated"]].iloc[0]
        if pd.isna(row.value):
            assert pd.isna(row.ci_low) and pd.isna(row.ci_high)
            continue
        rows = _group_rows(binary_data, day, column, value)
        scored = rows[rows["label"].notna() & rows["score"].notna()]
        a, n_pos, n_neg = row.value, scored["y"].sum(), (~scored["y"]).sum()
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        se = np.sqrt(
            (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a))
            / (n_pos * n_neg)
        )
        assert row.ci_low == pytest.approx(max(a - Z * se, 0.0), rel=1e-9, abs=1e-12)
        assert row.ci_high == pytest.approx(min(a + Z * se, 1.0), rel=1e-9, abs=1e-12)
        checked += 1
    assert checked > 20


def test_error_intervals(regression_result: pd.DataFrame, regression_data: pd.DataFrame) -> None:
    checked = 0
    for (day, column, value), group in _groups(regression_result):
        rows = _group_rows(regression_data, day, column, value)
        labelled = rows[rows["label"].notna()]
        errors = labelled["prediction"].to_numpy() - labelled["label"].to_numpy()
        by_metric = group.set_index("metric")
        if len(errors) < 2:
            assert by_metric.loc[["mae", "rmse"], "ci_low"].isna().all()
            continue
        n = len(errors)
        mae, se_mae = np.abs(errors).mean(), np.abs(errors).std(ddof=1) / np.sqrt(n)
        rmse = np.sqrt(np.mean(errors**2))
        se_rmse = (errors**2).std(ddof=1) / np.sqrt(n) / (2 * rmse)
        for metric, centre, se in [("mae", mae, se_mae), ("rmse", rmse, se_rmse)]:
            low, high = by_metric.loc[metric, ["ci_low", "ci_high"]]
            assert low == pytest.approx(max(centre - Z * se, 0.0), rel=1e-9, abs=1e-12)
            assert high == pytest.approx(centre + Z * se, rel=1e-9, abs=1e-12)
            checked += 1
    assert checked > 30


# ---------------------------------------------------------------------------------------------
# Multiclass
# ---------------------------------------------------------------------------------------------

CLASSES = ["cat", "dog", "eel"]


def _multiclass_frame(seed: int = 3) -> pd.DataFrame:
    """Scores rounded to 0.05 (many ties) that sum to one; a segment missing a class."""
    rng = np.random.default_rng(seed)
    n = 3000
    days = [START + dt.timedelta(days=i) for i in range(3)]
    raw = rng.dirichlet([2, 2, 2], n)
    first = np.round(raw[:, :2] * 20) / 20
    first[:, 1] = np.minimum(first[:, 1], 1 - first[:, 0])
    scores = np.column_stack([first, 1 - first.sum(axis=1)])
    truth = np.array([rng.choice(3, p=row) for row in scores])
    frame = pd.DataFrame(
        {
            "date": rng.choice(days, n),
            "prediction_id": [f"m{i}" for i in range(n)],
            "shop": rng.choice(["x", "y", "nodog", None], n),
            "label": np.array(CLASSES)[truth],
            "prediction": np.array(CLASSES)[np.where(rng.uniform(size=n) < 0.8, truth, 0)],
        }
    )
    for i, cls in enumerate(CLASSES):
        frame[f"score_{cls}"] = scores[:, i]
    nodog = frame["shop"] == "nodog"
    frame.loc[nodog & (frame["label"] == "dog"), "label"] = "cat"
    frame.loc[rng.uniform(size=n) < 0.2, "label"] = None
    return frame


def _sklearn_multiclass(rows: pd.DataFrame) -> dict[str, float | None]:
    rows = rows[rows["label"].notna()]
    names = [
        f"{stat}_{avg}" for stat in ["precision", "recall", "f1"] for avg in ["macro", "weighted"]
    ]
    per_class = [f"recall_class_{c}" for c in CLASSES]
    if rows.empty:
        return dict.fromkeys(["accuracy", *names, *per_class, "log_loss", "roc_auc_ovr_macro"])
    y, yhat = rows["label"].to_numpy(), rows["prediction"].to_numpy()
    scores = rows[[f"score_{c}" for c in sorted(CLASSES)]].to_numpy()
    kwargs = {"labels": CLASSES, "zero_division": np.nan}
    out: dict[str, float | None] = {"accuracy": skm.accuracy_score(y, yhat)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stat, fn in [
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ]:
            for avg in ["macro", "weighted"]:
                value = fn(y, yhat, average=avg, **kwargs)
                out[f"{stat}_{avg}"] = None if np.isnan(value) else value
        recalls = skm.recall_score(y, yhat, average=None, **kwargs)
        auc = skm.roc_auc_score(y, scores, multi_class="ovr", labels=sorted(CLASSES))
    for cls, value in zip(CLASSES, recalls, strict=True):
        out[f"recall_class_{cls}"] = None if np.isnan(value) else value
    out["log_loss"] = skm.log_loss(y, scores, labels=sorted(CLASSES))
    out["roc_auc_ovr_macro"] = None if np.isnan(auc) else auc
    return out


def test_multiclass_matches_sklearn() -> None:
    data = _multiclass_frame()
    model = ModelConfig(
        model_id="animals",
        task=Task.MULTICLASS_CLASSIFICATION,
        classes=CLASSES,
        segments=["shop"],
        start_date=START,
    )
    con = duckdb.connect()
    _register(con, "scored", data)
    result = compute_performance(con, model, "scored")
    assert list(result.columns) == COLUMNS
    checked = 0
    for (day, column, value), group in _groups(result):
        rows = _group_rows(data, day, column, value)
        actual = _values(group, estimated=False)
        expected = _sklearn_multiclass(rows)
        assert set(actual) == set(expected)
        for metric, want in expected.items():
            _assert_close(actual[metric], want, f"{day} {column}={value} {metric}")
            checked += want is not None
        assert (group["n"] == rows["label"].notna().sum()).all()
    assert checked > 150
    nodog = result[(result["segment_value"] == "nodog") & (result["metric"] == "roc_auc_ovr_macro")]
    assert len(nodog) and nodog["value"].isna().all()
    assert metric_direction(Task.MULTICLASS_CLASSIFICATION, "recall_class_dog") is True


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------

K = 3


def _ranking_frame(seed: int = 5) -> pd.DataFrame:
    """Requests showing 2-6 items; short lists only engage shown items (see _ndcg_reference)."""
    rng = np.random.default_rng(seed)
    catalogue = [f"i{j}" for j in range(12)]
    rows = []
    for r in range(600):
        shown = list(rng.choice(catalogue, rng.integers(2, 7), replace=False))
        pool = shown if len(shown) < K else catalogue
        size = rng.integers(0, min(4, len(pool)) + 1)
        engaged = [str(x) for x in rng.choice(pool, size, replace=False)]
        label = None if rng.uniform() < 0.15 else json.dumps(engaged)
        rows.append(
            {
                "date": START + dt.timedelta(days=int(rng.integers(0, 2))),
                "prediction_id": f"q{r}",
                "prediction": json.dumps([str(x) for x in shown]),
                "label": label,
                "device": rng.choice(["phone", "desk"]),
            }
        )
    return pd.DataFrame(rows)


def _ndcg_reference(shown: list[str], relevant: set[str]) -> float:
    """sklearn's ndcg_score@k on the union of shown and engaged items, unshown items ranked
    after every shown one (they never reach the top k: lists shorter than k engage only shown
    items)."""
    items = shown + sorted(relevant - set(shown))
    truth = np.array([[float(x in relevant) for x in items]])
    score = np.array([[len(items) - i for i in range(len(items))]], dtype=float)
    return skm.ndcg_score(truth, score, k=K)


def _ranking_reference(rows: pd.DataFrame) -> dict[str, float | None]:
    rows = rows[rows["label"].notna()]
    names = [f"precision_at_{K}", f"recall_at_{K}", f"ndcg_at_{K}", "mrr", f"hit_rate_at_{K}"]
    if rows.empty:
        return dict.fromkeys(names)
    precision, recall, ndcg, rr, hit = [], [], [], [], []
    for shown_json, label_json in zip(rows["prediction"], rows["label"], strict=True):
        shown, relevant = json.loads(shown_json), set(json.loads(label_json))
        hits = sum(x in relevant for x in shown[:K])
        precision.append(hits / K)
        hit.append(float(hits > 0))
        first = [i for i, x in enumerate(shown, start=1) if x in relevant]
        rr.append(1 / first[0] if first else 0.0)
        if relevant:
            recall.append(hits / len(relevant))
            ndcg.append(_ndcg_reference(shown, relevant))
    values = [precision, recall, ndcg, rr, hit]
    return {n: (float(np.mean(v)) if v else None) for n, v in zip(names, values, strict=True)}


def test_ranking_metrics() -> None:
    data = _ranking_frame()
    model = ModelConfig(
        model_id="feed", task=Task.RANKING, k=K, segments=["device"], start_date=START
    )
    con = duckdb.connect()
    _register(con, "scored", data)
    result = compute_performance(con, model, "scored")
    checked = 0
    for (day, column, value), group in _groups(result):
        rows = _group_rows(data, day, column, value)
        actual = _values(group, estimated=False)
        expected = _ranking_reference(rows)
        assert set(actual) == set(expected)
        for metric, want in expected.items():
            _assert_close(actual[metric], want, f"{day} {column}={value} {metric}")
            checked += want is not None
        assert (group["n"] == rows["label"].notna().sum()).all()
        coverage = rows["label"].notna().mean()
        assert group["label_coverage"].to_numpy() == pytest.approx(coverage)
    assert checked >= 25
    assert metric_direction(Task.RANKING, "ndcg_at_10") is True
    assert set(result["segment_value"]) >= {ALL, "phone"}
    assert NULL_SEGMENT not in set(result["segment_value"])
