"""Intervals, fairness, multiclass and ranking metrics against direct numpy / sklearn references."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics import metric_direction
from perf_pipeline.metrics.performance import (
    ALL,
    COLUMNS,
    FAIRNESS_GROUPS,
    NULL_SEGMENT,
    model_metrics,
)
from perf_pipeline.metrics.registry import Metric
from perf_pipeline_tests.test_performance_metrics import (
    COVERAGE_REL,
    POSITIVE,
    START,
    THRESHOLD,
    WEIRD,
    _assert_close,
    _binary_truth,
    _group_rows,
    _groups,
    _regression_frame,
    _values,
    performance_of,
)

# The two-sided 95 % normal quantile, from SciPy rather than copied from the code under test.
Z = float(norm.ppf(0.975))


@pytest.fixture(scope="module")
def binary_data() -> pd.DataFrame:
    return _binary_truth()


@pytest.fixture(scope="module")
def binary_result(binary_data: pd.DataFrame) -> pd.DataFrame:
    model = ModelConfig(
        model_id="fraud_model",
        task=Task.BINARY_CLASSIFICATION,
        positive_class=POSITIVE,
        classes=["legit", POSITIVE],
        decision_threshold=THRESHOLD,
        # These frames log a random class: the threshold decides wherever there is a score
        # (the logged-class semantics are checked in test_logged_predictions.py).
        predicted_class="threshold",
        segments=["region"],
        protected_attributes=[WEIRD, "region"],
        start_date=START,
    )
    return performance_of(model, binary_data.drop(columns=["y", "yhat"]))


@pytest.fixture(scope="module")
def regression_data() -> pd.DataFrame:
    return _regression_frame()


@pytest.fixture(scope="module")
def regression_result(regression_data: pd.DataFrame) -> pd.DataFrame:
    model = ModelConfig(
        model_id="demand", task=Task.REGRESSION, segments=["store"], start_date=START
    )
    return performance_of(model, regression_data)


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
        assert actual["label_coverage"].to_numpy() == pytest.approx(coverage, rel=COVERAGE_REL)
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


def _normal_mean_interval(x: np.ndarray, floor: float | None) -> tuple[float, float]:
    """mean ± z·sd/√n with the sample sd, clipped below at `floor` when the metric has one.

    statsmodels' zconfint_mean is the same normal-quantile interval (tconfint_mean would use
    Student's t), so it cross-checks the reference formula itself.
    """
    centre, se = x.mean(), x.std(ddof=1) / np.sqrt(len(x))
    low, high = centre - Z * se, centre + Z * se
    assert (low, high) == pytest.approx(DescrStatsW(x).zconfint_mean(alpha=0.05), rel=1e-12)
    return (low if floor is None else max(low, floor)), high


def test_error_intervals(regression_result: pd.DataFrame, regression_data: pd.DataFrame) -> None:
    """mae, mean_error and mape are means with a normal interval; rmse uses the delta method."""
    checked = dict.fromkeys(["mae", "rmse", "mean_error", "mape"], 0)
    for (day, column, value), group in _groups(regression_result):
        rows = _group_rows(regression_data, day, column, value)
        labelled = rows[rows["label"].notna()]
        y, yhat = labelled["label"].to_numpy(), labelled["prediction"].to_numpy()
        errors = yhat - y
        nonzero = y != 0
        by_metric = group.set_index("metric")
        # Each mean's sample and its lower bound (mean_error is a signed bias: no clipping).
        samples = {
            "mae": (np.abs(errors), 0.0),
            "mean_error": (errors, None),
            "mape": (np.abs(errors[nonzero]) / np.abs(y[nonzero]), 0.0),
        }
        for metric, (x, floor) in samples.items():
            row = by_metric.loc[metric]
            if len(x) < 2:  # no sample sd: no interval, whatever the value
                assert pd.isna(row["ci_low"]) and pd.isna(row["ci_high"]), (day, value, metric)
                continue
            low, high = _normal_mean_interval(x, floor)
            assert row["ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-12), (day, value, metric)
            assert row["ci_high"] == pytest.approx(high, rel=1e-9, abs=1e-12), (day, value, metric)
            assert row["ci_low"] <= row["value"] <= row["ci_high"]
            checked[metric] += 1
        if len(errors) < 2:
            assert pd.isna(by_metric.loc["rmse", "ci_low"])
            continue
        n = len(errors)
        rmse = np.sqrt(np.mean(errors**2))
        se_rmse = (errors**2).std(ddof=1) / np.sqrt(n) / (2 * rmse)
        low, high = by_metric.loc["rmse", ["ci_low", "ci_high"]]
        assert low == pytest.approx(max(rmse - Z * se_rmse, 0.0), rel=1e-9, abs=1e-12)
        assert high == pytest.approx(rmse + Z * se_rmse, rel=1e-9, abs=1e-12)
        checked["rmse"] += 1
    assert min(checked.values()) >= 15 and checked["mape"] < checked["mae"], checked
    # The `zeros` store has no row mape can use: mape and its interval are NULL, n recorded.
    zeros = regression_result[
        (regression_result["segment_value"] == "zeros") & (regression_result["metric"] == "mape")
    ]
    assert len(zeros) and zeros[["value", "ci_low", "ci_high"]].isna().all().all()
    assert (zeros["n"] > 0).all()
    # A negative bias must be able to reach below 0 (no clipping to the errors' range).
    bias = regression_result[regression_result["metric"] == "mean_error"]
    assert (bias["ci_low"] < 0).any()


def _assert_wilson(
    result: pd.DataFrame,
    data: pd.DataFrame,
    model: ModelConfig,
    counts: Callable[[pd.DataFrame], dict[str, tuple[int, int]]],
) -> int:
    """Every proportion's interval is statsmodels' Wilson interval on (successes, its own
    denominator), counted independently from the labelled rows; other metrics carry none.

    `counts` maps the group's labelled rows to {metric: (successes, denominator)} and must name
    every proportion the registry gives the model, so a new one cannot go unchecked.
    """
    proportions = {m.name for m in model_metrics(model) if m.kind == "proportion"}
    checked = 0
    for (day, column, value), group in _groups(result):
        rows = _group_rows(data, day, column, value)
        expected = counts(rows[rows["label"].notna()])
        assert set(expected) == proportions
        for row in group.itertuples():
            where = f"{day} {column}={value} {row.metric}"
            if row.metric not in expected:
                assert pd.isna(row.ci_low) and pd.isna(row.ci_high), where
                continue
            successes, nobs = expected[row.metric]
            if nobs == 0:
                assert pd.isna(row.value) and pd.isna(row.ci_low) and pd.isna(row.ci_high), where
                continue
            low, high = proportion_confint(successes, nobs, alpha=0.05, method="wilson")
            assert row.value == pytest.approx(successes / nobs, rel=1e-12, abs=1e-15), where
            assert row.ci_low == pytest.approx(low, rel=1e-9, abs=1e-12), where
            assert row.ci_high == pytest.approx(high, rel=1e-9, abs=1e-12), where
            assert row.ci_low <= row.value <= row.ci_high, where
            checked += 1
    return checked


# ---------------------------------------------------------------------------------------------
# Multiclass
# ---------------------------------------------------------------------------------------------

CLASSES = ["cat", "dog", "eel"]
MULTICLASS_DAYS = [START + dt.timedelta(days=i) for i in range(4)]
SINGLE_CLASS_DAY = MULTICLASS_DAYS[3]  # every label is "cat"
UNNORMALIZED_DAY = MULTICLASS_DAYS[2]  # some score rows do not sum to 1
UNKNOWN_CLASS = "fox"  # predicted, but not one of CLASSES


def _multiclass_frame(seed: int = 3) -> pd.DataFrame:
    """Scores rounded to 0.05 (many ties) that sum to one; a segment missing a class; a day
    with a single true class; predictions of a class outside CLASSES; and, on one day, score
    rows that do not sum to 1 (each score still in [0, 1], as ingestion guarantees)."""
    rng = np.random.default_rng(seed)
    n = 4000
    raw = rng.dirichlet([2, 2, 2], n)
    first = np.round(raw[:, :2] * 20) / 20
    first[:, 1] = np.minimum(first[:, 1], 1 - first[:, 0])
    scores = np.column_stack([first, 1 - first.sum(axis=1)])
    truth = np.array([rng.choice(3, p=row) for row in scores])
    frame = pd.DataFrame(
        {
            "date": rng.choice(MULTICLASS_DAYS, n),
            "prediction_id": [f"m{i}" for i in range(n)],
            "shop": rng.choice(["x", "y", "nodog", None], n),
            "label": np.array(CLASSES)[truth],
            "prediction": np.array(CLASSES)[np.where(rng.uniform(size=n) < 0.8, truth, 0)],
        }
    )
    unnormalized = (frame["date"] == UNNORMALIZED_DAY).to_numpy() & (rng.uniform(size=n) < 0.3)
    factors = rng.uniform(0.5, 1.5, (int(unnormalized.sum()), 1))
    scores[unnormalized] = np.minimum(scores[unnormalized] * factors, 1.0)
    for i, cls in enumerate(CLASSES):
        frame[f"score_{cls}"] = scores[:, i]
    nodog = frame["shop"] == "nodog"
    frame.loc[nodog & (frame["label"] == "dog"), "label"] = "cat"
    frame.loc[frame["date"] == SINGLE_CLASS_DAY, "label"] = "cat"
    frame.loc[rng.uniform(size=n) < 0.05, "prediction"] = UNKNOWN_CLASS
    frame.loc[rng.uniform(size=n) < 0.2, "label"] = None
    return frame


@pytest.fixture(scope="module")
def multiclass_model() -> ModelConfig:
    return ModelConfig(
        model_id="animals",
        task=Task.MULTICLASS_CLASSIFICATION,
        classes=CLASSES,
        segments=["shop"],
        start_date=START,
    )


@pytest.fixture(scope="module")
def multiclass_data() -> pd.DataFrame:
    return _multiclass_frame()


@pytest.fixture(scope="module")
def multiclass_result(multiclass_model: ModelConfig, multiclass_data: pd.DataFrame) -> pd.DataFrame:
    return performance_of(multiclass_model, multiclass_data)


def _sklearn_ovr_macro_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's one-vs-rest macro AUC; NaN where a class is absent or alone.

    For score rows that do not sum to 1, `roc_auc_score(multi_class="ovr")` refuses to run,
    but the per-class binary AUCs it would average are still defined (each uses only its own
    class's score), and that mean is what the table reports.
    """
    try:
        return skm.roc_auc_score(y, scores, multi_class="ovr", labels=sorted(CLASSES))
    except ValueError as error:
        if "probabilities" not in str(error):
            return np.nan
    aucs = []
    for i, cls in enumerate(sorted(CLASSES)):
        truth = y == cls
        if truth.all() or not truth.any():
            return np.nan
        aucs.append(skm.roc_auc_score(truth, scores[:, i]))
    return float(np.mean(aucs))


def _sklearn_multiclass(rows: pd.DataFrame) -> dict[str, float | None]:
    """sklearn with labels=CLASSES on the labelled rows; NULL where sklearn gives NaN (an
    undefined class or AUC)."""
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
        # log_loss only warns about rows that do not sum to 1 and uses them as they are.
        out["log_loss"] = skm.log_loss(y, scores, labels=sorted(CLASSES))
        auc = _sklearn_ovr_macro_auc(y, scores)
    for cls, value in zip(CLASSES, recalls, strict=True):
        out[f"recall_class_{cls}"] = None if np.isnan(value) else value
    out["roc_auc_ovr_macro"] = None if np.isnan(auc) else auc
    return out


def test_multiclass_data_holds_the_edge_cases(multiclass_data: pd.DataFrame) -> None:
    """The comparison below is only as good as its data: every edge case is really there."""
    labelled = multiclass_data[multiclass_data["label"].notna()]
    single = labelled[labelled["date"] == SINGLE_CLASS_DAY]
    assert len(single) > 100 and set(single["label"]) == {"cat"}
    unknown = labelled["prediction"] == UNKNOWN_CLASS
    assert unknown.sum() > 50 and (unknown & (labelled["date"] != SINGLE_CLASS_DAY)).any()
    sums = multiclass_data[[f"score_{c}" for c in CLASSES]].sum(axis=1)
    off = ~np.isclose(sums, 1.0, rtol=1e-5, atol=1e-8)
    assert off.sum() > 100 and (sums > 1.01).any() and (sums < 0.99).any()
    assert set(multiclass_data.loc[off, "date"]) == {UNNORMALIZED_DAY}


def test_multiclass_matches_sklearn(
    multiclass_result: pd.DataFrame, multiclass_data: pd.DataFrame
) -> None:
    result, data = multiclass_result, multiclass_data
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
        labelled = int(rows["label"].notna().sum())
        assert (group.loc[~group["is_estimated"], "n"] == labelled).all()
        coverage = labelled / len(rows)
        assert group["label_coverage"].to_numpy() == pytest.approx(coverage, rel=COVERAGE_REL)
    assert checked > 200
    realized_auc = (result["metric"] == "roc_auc_ovr_macro") & ~result["is_estimated"]
    auc = result[realized_auc].set_index(["date", "segment_value"])
    nodog = auc.xs("nodog", level="segment_value")
    assert len(nodog) and nodog["value"].isna().all()
    assert auc.loc[SINGLE_CLASS_DAY, "value"].isna().all()
    assert auc.loc[UNNORMALIZED_DAY, "value"].notna().any()  # compared with sklearn above
    assert auc.loc[(MULTICLASS_DAYS[0], ALL), "value"] > 0.5
    # The single-class day: recall of an absent class is undefined; the present one is real.
    single = result[(result["date"] == SINGLE_CLASS_DAY) & (result["segment_column"] == ALL)]
    single = single.set_index("metric")
    assert single.loc[["recall_class_dog", "recall_class_eel"], "value"].isna().all()
    assert 0 < single.loc["recall_class_cat", "value"] < 1
    assert (single["n"] > 0).all()
    assert metric_direction(Task.MULTICLASS_CLASSIFICATION, "recall_class_dog") is True


def _multiclass_counts(labelled: pd.DataFrame) -> dict[str, tuple[int, int]]:
    y, yhat = labelled["label"], labelled["prediction"]
    counts = {"accuracy": (int((y == yhat).sum()), len(labelled))}
    for cls in CLASSES:
        counts[f"recall_class_{cls}"] = (
            int(((y == cls) & (yhat == cls)).sum()),
            int((y == cls).sum()),
        )
    return counts


def test_multiclass_wilson_intervals(
    multiclass_result: pd.DataFrame,
    multiclass_data: pd.DataFrame,
    multiclass_model: ModelConfig,
) -> None:
    realized = multiclass_result[~multiclass_result["is_estimated"]]
    checked = _assert_wilson(realized, multiclass_data, multiclass_model, _multiclass_counts)
    assert checked > 60


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------

K = 3
# The list form, out of order on purpose: every cutoff must come out, each with its own values.
CUTOFF_FORMS: dict[str, int | list[int]] = {"one_cutoff": K, "three_cutoffs": [5, 2, 3]}


def _cutoffs(form: int | list[int]) -> list[int]:
    return [form] if isinstance(form, int) else list(form)


def _ranking_frame(seed: int = 5) -> pd.DataFrame:
    """Requests showing 2-6 items, engaging items shown or not (some engaged twice), some with
    no engagement and some not labelled yet."""
    rng = np.random.default_rng(seed)
    catalogue = [f"i{j}" for j in range(12)]
    rows = []
    for r in range(800):
        shown = list(rng.choice(catalogue, rng.integers(2, 7), replace=False))
        engaged = [str(x) for x in rng.choice(catalogue, rng.integers(0, 5), replace=False)]
        if engaged and rng.uniform() < 0.1:
            engaged.append(engaged[0])  # a repeated engagement is one relevant item
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


def _ndcg_reference(shown: list[str], relevant: set[str], k: int) -> float:
    """sklearn's ndcg_score@k on the shown items followed by the relevant items never shown.

    Unshown relevant items get scores below every shown item, so they count in the ideal DCG
    (which sklearn builds from all items) but not in the DCG of the top k. That holds when at
    least k items were shown; a shorter list is first padded to k with never-relevant
    placeholders, which is what an empty slot is (no gain).
    """
    padded = shown + [f"__empty_{j}" for j in range(k - len(shown))]
    items = padded + sorted(relevant - set(shown))
    truth = np.array([[float(x in relevant) for x in items]])
    score = np.array([[len(items) - i for i in range(len(items))]], dtype=float)
    return float(skm.ndcg_score(truth, score, k=k))


def _ranking_reference(rows: pd.DataFrame, cutoffs: list[int]) -> dict[str, float | None]:
    """Straightforward Python per request (sklearn has no precision/recall/hit rate@k or mrr):
    mrr once, the others once per cutoff."""
    rows = rows[rows["label"].notna()]
    requests = [
        (json.loads(shown), set(json.loads(label)))
        for shown, label in zip(rows["prediction"], rows["label"], strict=True)
    ]
    rr = []
    for shown, relevant in requests:
        first = [i for i, x in enumerate(shown, start=1) if x in relevant]
        rr.append(1 / first[0] if first else 0.0)
    values: dict[str, list[float]] = {"mrr": rr}
    for k in cutoffs:
        values |= _at_k_reference(requests, k)
    return {n: (float(np.mean(v)) if v else None) for n, v in values.items()}


def _at_k_reference(requests: list[tuple[list[str], set[str]]], k: int) -> dict[str, list[float]]:
    """Per-request precision, recall, nDCG and hit rate at k (recall and nDCG only for requests
    with a relevant item)."""
    precision, recall, ndcg, hit = [], [], [], []
    for shown, relevant in requests:
        hits = sum(x in relevant for x in shown[:k])
        precision.append(hits / k)
        hit.append(float(hits > 0))
        if relevant:
            recall.append(hits / len(relevant))
            ndcg.append(_ndcg_reference(shown, relevant, k))
    return {
        f"precision_at_{k}": precision,
        f"recall_at_{k}": recall,
        f"ndcg_at_{k}": ndcg,
        f"hit_rate_at_{k}": hit,
    }


def _ranking_model(k: int | list[int]) -> ModelConfig:
    return ModelConfig(
        model_id="feed", task=Task.RANKING, k=k, segments=["device"], start_date=START
    )


@pytest.fixture(scope="module", params=list(CUTOFF_FORMS.values()), ids=list(CUTOFF_FORMS))
def ranking_cutoffs(request: pytest.FixtureRequest) -> int | list[int]:
    """The `k` of the models file, as written there (one int or a list)."""
    return request.param


@pytest.fixture(scope="module")
def ranking_model(ranking_cutoffs: int | list[int]) -> ModelConfig:
    return _ranking_model(ranking_cutoffs)


@pytest.fixture(scope="module")
def ranking_data() -> pd.DataFrame:
    return _ranking_frame()


@pytest.fixture(scope="module")
def ranking_result(ranking_model: ModelConfig, ranking_data: pd.DataFrame) -> pd.DataFrame:
    return performance_of(ranking_model, ranking_data)


def test_ranking_data_holds_unshown_relevant_items(ranking_data: pd.DataFrame) -> None:
    """nDCG's ideal DCG counts relevant items never shown; the data must exercise that, for
    full lists (the plain sklearn comparison) and for lists shorter than k (padded)."""
    for k in sorted({k for form in CUTOFF_FORMS.values() for k in _cutoffs(form)}):
        full = short = 0
        for shown_json, label_json in ranking_data[["prediction", "label"]].dropna().to_numpy():
            shown, relevant = json.loads(shown_json), set(json.loads(label_json))
            # Only counts when an unshown item changes the ideal DCG: more relevant items than
            # the shown top k holds, and fewer than k of them in it.
            shown_relevant = len(relevant & set(shown[:k]))
            if relevant - set(shown) and shown_relevant < min(k, len(relevant)):
                full += len(shown) >= k
                short += len(shown) < k
        # Every request shows at least two items, so no list is shorter than a cutoff of 2.
        assert full > 100 and (short > 20 or k <= 2), (k, full, short)


def test_ranking_metrics(
    ranking_result: pd.DataFrame, ranking_data: pd.DataFrame, ranking_cutoffs: int | list[int]
) -> None:
    result, data, cutoffs = ranking_result, ranking_data, _cutoffs(ranking_cutoffs)
    checked = 0
    for (day, column, value), group in _groups(result):
        rows = _group_rows(data, day, column, value)
        actual = _values(group, estimated=False)
        expected = _ranking_reference(rows, cutoffs)
        assert set(actual) == set(expected)
        for metric, want in expected.items():
            _assert_close(actual[metric], want, f"{day} {column}={value} {metric}")
            checked += want is not None
        assert (group["n"] == rows["label"].notna().sum()).all()
        coverage = rows["label"].notna().mean()
        assert group["label_coverage"].to_numpy() == pytest.approx(coverage, rel=COVERAGE_REL)
    assert checked >= 25 * len(cutoffs)
    assert metric_direction(Task.RANKING, "ndcg_at_10") is True
    assert set(result["segment_value"]) >= {ALL, "phone"}
    assert NULL_SEGMENT not in set(result["segment_value"])


def test_ranking_metrics_come_in_cutoff_order() -> None:
    """Whatever order the file lists the cutoffs in, each metric's cutoffs come out ascending."""
    names = [m.name for m in model_metrics(_ranking_model([5, 2, 3]))]
    assert names == [
        *(f"precision_at_{k}" for k in (2, 3, 5)),
        *(f"recall_at_{k}" for k in (2, 3, 5)),
        *(f"ndcg_at_{k}" for k in (2, 3, 5)),
        "mrr",
        *(f"hit_rate_at_{k}" for k in (2, 3, 5)),
    ]


def test_one_cutoff_as_an_int_or_a_list_gives_the_same_rows(ranking_data: pd.DataFrame) -> None:
    """`k: 3` keeps today's metric names and values; `k: [3]` is the same model."""
    as_int = performance_of(_ranking_model(K), ranking_data)
    as_list = performance_of(_ranking_model([K]), ranking_data)
    pd.testing.assert_frame_equal(as_int, as_list)
    names = {f"precision_at_{K}", f"recall_at_{K}", f"ndcg_at_{K}", "mrr", f"hit_rate_at_{K}"}
    assert set(as_int["metric"]) == names


def test_a_k_template_outside_the_metric_name_is_refused() -> None:
    """Only a name with `{k}` is repeated per cutoff, so `{k}` elsewhere would have no value."""
    with pytest.raises(ValueError, match="in its SQL but not in its name"):
        Metric("hits_total", Task.RANKING, sql="sum(hits_{k})", higher_is_better=True)


def _ranking_counts(cutoffs: list[int]) -> Callable[[pd.DataFrame], dict[str, tuple[int, int]]]:
    def counts(labelled: pd.DataFrame) -> dict[str, tuple[int, int]]:
        requests = [
            (json.loads(shown), set(json.loads(label)))
            for shown, label in zip(labelled["prediction"], labelled["label"], strict=True)
        ]
        return {
            f"hit_rate_at_{k}": (
                sum(any(x in relevant for x in shown[:k]) for shown, relevant in requests),
                len(labelled),
            )
            for k in cutoffs
        }

    return counts


def test_ranking_wilson_intervals(
    ranking_result: pd.DataFrame,
    ranking_data: pd.DataFrame,
    ranking_model: ModelConfig,
    ranking_cutoffs: int | list[int],
) -> None:
    counts = _ranking_counts(_cutoffs(ranking_cutoffs))
    checked = _assert_wilson(ranking_result, ranking_data, ranking_model, counts)
    assert checked >= 6 * len(_cutoffs(ranking_cutoffs))
