"""Performance metrics agree with scikit-learn and statsmodels on the same rows, group by group."""

from __future__ import annotations

import datetime as dt
import math
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from statsmodels.stats.proportion import proportion_confint

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics import METRICS, compute_performance, metric_direction
from perf_pipeline.metrics.performance import ALL, COLUMNS, FAIRNESS_GROUPS, NULL_SEGMENT

REL = 1e-9
ABS = 1e-12
# label_coverage is one exact ratio of two counts, not an accumulated float.
COVERAGE_REL = 1e-12
START = dt.date(2024, 3, 1)
WEIRD = 'we"ird col'
POSITIVE = "fraud"
THRESHOLD = 0.3


def _binary_frame(seed: int = 7) -> pd.DataFrame:
    """Four days of fraud scores with ties, NULL labels, NULL scores and degenerate segments."""
    rng = np.random.default_rng(seed)
    n = 4000
    days = [START + dt.timedelta(days=i) for i in range(4)]
    frame = pd.DataFrame(
        {
            "date": rng.choice(days, n),
            "prediction_id": [f"p{i}" for i in range(n)],
            "region": rng.choice(["north", "south", "east", "solo", "quiet", None], n),
            WEIRD: rng.choice(["a", "b", None], n),
            # Two decimals leave many tied scores; the clip keeps exact 0 and 1 for log_loss.
            "score": np.clip(np.round(rng.uniform(-0.05, 1.05, n), 2), 0.0, 1.0),
        }
    )
    truth = rng.uniform(size=n) < frame["score"]
    frame["label"] = np.where(truth, POSITIVE, "legit")
    # With predicted_class 'threshold', scores win over this random logged class.
    frame["prediction"] = rng.choice([POSITIVE, "legit"], n)
    frame.loc[frame["region"] == "solo", "label"] = "legit"  # one-class group
    frame.loc[frame["region"] == "quiet", "score"] = rng.uniform(0, THRESHOLD * 0.99, n)[
        frame["region"] == "quiet"
    ]  # no predicted positives
    frame.loc[frame["region"] == "quiet", "prediction"] = "legit"
    frame.loc[rng.uniform(size=n) < 0.02, "score"] = np.nan  # the logged class decides these
    frame.loc[rng.uniform(size=n) < 0.25, "label"] = None  # labels not arrived yet
    frame.loc[frame["date"] == days[-1], "label"] = None  # a day with no labels at all
    return frame


def _regression_frame(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2000
    days = [START + dt.timedelta(days=i) for i in range(3)]
    frame = pd.DataFrame(
        {
            "date": rng.choice(days, n),
            "prediction_id": [f"r{i}" for i in range(n)],
            "store": rng.choice(["big", "small", "flat", "zeros", None], n),
            "label": np.round(rng.normal(50, 20, n), 1),
        }
    )
    frame.loc[rng.uniform(size=n) < 0.1, "label"] = 0.0  # MAPE must skip these
    frame.loc[frame["store"] == "flat", "label"] = 5.0  # constant labels: r2 undefined
    frame.loc[frame["store"] == "zeros", "label"] = 0.0  # no row MAPE can use
    frame["prediction"] = frame["label"].fillna(50) + rng.normal(0, 8, n)
    frame.loc[rng.uniform(size=n) < 0.2, "label"] = np.nan
    return frame


def _register(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """Load a frame with the column types the scored contract promises."""
    con.register("incoming", frame)
    casts = ", ".join(
        f'CAST("{c.replace(chr(34), chr(34) * 2)}" AS {_type(c, frame)}) AS '
        f'"{c.replace(chr(34), chr(34) * 2)}"'
        for c in frame.columns
    )
    con.execute(f'CREATE TABLE "{name}" AS SELECT {casts} FROM incoming')
    con.unregister("incoming")


def performance_of(model: ModelConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """`compute_performance` of `frame`, loaded into a fresh DuckDB with the contract's types."""
    con = duckdb.connect()
    _register(con, "scored", frame)
    return compute_performance(con, model, "scored")


def _type(column: str, frame: pd.DataFrame) -> str:
    if column == "date":
        return "DATE"
    if column == "score" or pd.api.types.is_float_dtype(frame[column]):
        return "DOUBLE"
    return "VARCHAR"


@pytest.fixture(scope="module")
def binary_model() -> ModelConfig:
    return ModelConfig(
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


@pytest.fixture(scope="module")
def regression_model() -> ModelConfig:
    return ModelConfig(
        model_id="demand", task=Task.REGRESSION, segments=["store"], start_date=START
    )


def _binary_truth() -> pd.DataFrame:
    """The binary frame with the true and predicted classes the metrics are checked against."""
    frame = _binary_frame()
    frame["y"] = frame["label"] == POSITIVE
    frame["yhat"] = np.where(
        frame["score"].notna(), frame["score"] >= THRESHOLD, frame["prediction"] == POSITIVE
    )
    return frame


@pytest.fixture(scope="module")
def binary_data() -> pd.DataFrame:
    return _binary_truth()


@pytest.fixture(scope="module")
def binary_result(binary_model: ModelConfig, binary_data: pd.DataFrame) -> pd.DataFrame:
    return performance_of(binary_model, binary_data.drop(columns=["y", "yhat"]))


@pytest.fixture(scope="module")
def regression_data() -> pd.DataFrame:
    return _regression_frame()


@pytest.fixture(scope="module")
def regression_result(regression_model: ModelConfig, regression_data: pd.DataFrame) -> pd.DataFrame:
    return performance_of(regression_model, regression_data)


def _group_rows(data: pd.DataFrame, day: dt.date, column: str, value: str) -> pd.DataFrame:
    rows = data[data["date"] == day]
    if column == ALL:
        return rows
    if value == NULL_SEGMENT:
        return rows[rows[column].isna()]
    return rows[rows[column] == value]


def _groups(result: pd.DataFrame):
    """The (date, segment) groups; fairness rows compare groups and are checked on their own."""
    per_group = result[result["segment_value"] != FAIRNESS_GROUPS]
    yield from per_group.groupby(["date", "segment_column", "segment_value"], sort=False)


def _values(group: pd.DataFrame, estimated: bool) -> dict[str, float | None]:
    rows = group[group["is_estimated"] == estimated]
    return {r.metric: (None if pd.isna(r.value) else float(r.value)) for r in rows.itertuples()}


def _assert_close(actual: float | None, expected: float | None, where: str) -> None:
    if expected is None:
        assert actual is None, f"{where}: expected NULL, got {actual}"
    else:
        assert actual is not None, f"{where}: expected {expected}, got NULL"
        assert actual == pytest.approx(expected, rel=REL, abs=ABS), where


def _sklearn_binary(rows: pd.DataFrame) -> dict[str, float | None]:
    """sklearn on the labelled rows; NULL where our rules say the metric is undefined."""
    rows = rows[rows["label"].notna()]
    if rows.empty:
        return dict.fromkeys(
            ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", *_NEW_BINARY]
        )
    truth = rows["label"].to_numpy()
    predicted = np.where(rows["yhat"], POSITIVE, "legit")
    scored = rows[rows["score"].notna()]
    y, yhat = rows["y"].to_numpy(), rows["yhat"].to_numpy()
    kwargs = {"pos_label": POSITIVE, "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "accuracy": skm.accuracy_score(truth, predicted),
            "precision": skm.precision_score(truth, predicted, **kwargs) if yhat.any() else None,
            "recall": skm.recall_score(truth, predicted, **kwargs) if y.any() else None,
            "f1": skm.f1_score(truth, predicted, **kwargs) if (y | yhat).any() else None,
            "roc_auc": None,
            "log_loss": None,
        }
    if scored["y"].nunique() == 2:
        expected["roc_auc"] = skm.roc_auc_score(scored["y"], scored["score"])
    if len(scored):
        expected["log_loss"] = skm.log_loss(scored["y"], scored["score"], labels=[False, True])
    expected.update(_sklearn_binary_additions(rows))
    return expected


_NEW_BINARY = ["balanced_accuracy", "specificity", "pr_auc", "brier", "ece", "tp", "fp", "tn", "fn"]


def _ece_reference(y: np.ndarray, p: np.ndarray) -> float | None:
    """ECE as documented: bins min(floor(10p), 9), sum_b (n_b / N) |mean_b(y) - mean_b(p)|."""
    if len(p) == 0:
        return None
    bins = np.minimum(np.floor(p * 10), 9).astype(int)
    total = 0.0
    for b in range(10):
        inside = bins == b
        if inside.any():
            total += inside.sum() / len(p) * abs(y[inside].mean() - p[inside].mean())
    return total


def _sklearn_binary_additions(rows: pd.DataFrame) -> dict[str, float | None]:
    """The metrics added beside the original six, on labelled rows."""
    y, yhat = rows["y"].to_numpy(), rows["yhat"].to_numpy()
    scored = rows[rows["score"].notna()]
    ys, ps = scored["y"].to_numpy(), scored["score"].to_numpy()
    tn, fp, fn, tp = skm.confusion_matrix(y, yhat, labels=[False, True]).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        balanced = skm.balanced_accuracy_score(y, yhat)
    return {
        "balanced_accuracy": balanced,
        "specificity": skm.recall_score(y, yhat, pos_label=False) if (~y).any() else None,
        "pr_auc": skm.average_precision_score(ys, ps) if ys.any() else None,
        "brier": skm.brier_score_loss(ys, ps, pos_label=True) if len(ys) else None,
        "ece": _ece_reference(ys.astype(float), ps),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def _expected_estimates(rows: pd.DataFrame) -> dict[str, float | None]:
    scored = rows[rows["score"].notna()]
    p, yhat = scored["score"].to_numpy(), scored["yhat"].to_numpy()
    expected_tp = p[yhat].sum()
    precision = expected_tp / yhat.sum() if yhat.any() else None
    recall = expected_tp / p.sum() if p.sum() > 0 else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    elif recall is not None or precision is not None:
        f1 = 0.0  # one side undefined only when no score mass sits on that side
    return {
        "accuracy": float(np.where(yhat, p, 1 - p).mean()) if len(p) else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def test_output_shape(binary_result: pd.DataFrame, binary_data: pd.DataFrame) -> None:
    assert list(binary_result.columns) == COLUMNS
    assert (binary_result["model_id"] == "fraud_model").all()
    assert all(type(d) is dt.date for d in binary_result["date"])
    assert set(binary_result["segment_column"]) == {ALL, "region", WEIRD}
    overall = binary_result[binary_result["segment_column"] == ALL]
    assert set(overall["segment_value"]) == {ALL}
    assert NULL_SEGMENT in set(
        binary_result.loc[binary_result["segment_column"] == "region", "segment_value"]
    )
    keys = ["date", "segment_column", "segment_value", "metric", "is_estimated"]
    assert not binary_result.duplicated(keys).any()
    entries = METRICS[Task.BINARY_CLASSIFICATION]
    names = [m.name for m in entries if not m.across_groups]
    for key, group in _groups(binary_result):
        assert sorted(group.loc[~group["is_estimated"], "metric"]) == sorted(names), key
        assert sorted(group.loc[group["is_estimated"], "metric"]) == sorted(
            ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc"]
        ), key
    # Every group that has rows is reported, including the day without labels.
    expected_groups = 0
    for _day, rows in binary_data.groupby("date"):
        expected_groups += 1 + rows["region"].nunique(dropna=False)
        expected_groups += rows[WEIRD].nunique(dropna=False)
        expected_groups += 2  # one fairness group per protected attribute
    assert binary_result.groupby(["date", "segment_column", "segment_value"]).ngroups == (
        expected_groups
    )


def test_realized_binary_matches_sklearn(
    binary_result: pd.DataFrame, binary_data: pd.DataFrame
) -> None:
    checked = 0
    for (day, column, value), group in _groups(binary_result):
        rows = _group_rows(binary_data, day, column, value)
        expected = _sklearn_binary(rows)
        actual = _values(group, estimated=False)
        for metric, want in expected.items():
            _assert_close(actual[metric], want, f"{day} {column}={value} {metric}")
            checked += want is not None
        realized = group[~group["is_estimated"]].set_index("metric")
        labelled = int(rows["label"].notna().sum())
        assert (realized["n"].drop("positive_rate") == labelled).all()
        assert realized.loc["positive_rate", "n"] == len(rows)
        _assert_close(actual["positive_rate"], float(rows["yhat"].mean()), "positive_rate")
        coverage = realized["label_coverage"].iloc[0]
        assert coverage == pytest.approx(labelled / len(rows), rel=COVERAGE_REL)
    assert checked > 150


def test_degenerate_groups_are_null_not_zero(
    binary_result: pd.DataFrame, binary_data: pd.DataFrame
) -> None:
    realized = binary_result[~binary_result["is_estimated"]]
    labelled_days = realized[realized["n"] > 0]

    # Where sklearn falls back to zero_division (0 plus a warning), we report NULL instead.
    quiet_rows = binary_data[(binary_data["region"] == "quiet") & binary_data["label"].notna()]
    assert not quiet_rows["yhat"].any()
    with pytest.warns(UndefinedMetricWarning):
        assert skm.precision_score(quiet_rows["y"], quiet_rows["yhat"]) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(skm.roc_auc_score(np.zeros(3, dtype=bool), [0.1, 0.2, 0.3]))

    solo = labelled_days[labelled_days["segment_value"] == "solo"].set_index(["date", "metric"])
    assert solo.xs("roc_auc", level="metric")["value"].isna().all()
    assert solo.xs("recall", level="metric")["value"].isna().all()
    assert solo.xs("log_loss", level="metric")["value"].notna().all()

    quiet = labelled_days[labelled_days["segment_value"] == "quiet"].set_index(["date", "metric"])
    assert quiet.xs("precision", level="metric")["value"].isna().all()
    assert quiet.xs("precision", level="metric")["ci_low"].isna().all()
    # Positives exist but none is predicted: recall and f1 are a true 0, not undefined.
    assert (quiet.xs("recall", level="metric")["value"] == 0).all()
    assert (quiet.xs("f1", level="metric")["value"] == 0).all()

    unlabelled_day = START + dt.timedelta(days=3)
    day_rows = realized[
        (realized["date"] == unlabelled_day)
        & (realized["segment_value"] != FAIRNESS_GROUPS)
        & (realized["metric"] != "positive_rate")
    ]
    assert len(day_rows) > 0
    assert day_rows["value"].isna().all()
    assert (day_rows["n"] == 0).all()
    assert (day_rows["label_coverage"] == 0).all()


def test_estimated_binary(binary_result: pd.DataFrame, binary_data: pd.DataFrame) -> None:
    for (day, column, value), group in _groups(binary_result):
        rows = _group_rows(binary_data, day, column, value)
        actual = _values(group, estimated=True)
        for metric, want in _expected_estimates(rows).items():
            _assert_close(actual[metric], want, f"estimated {day} {column}={value} {metric}")
        estimated = group[group["is_estimated"]]
        assert (estimated["n"] == len(rows)).all()
    unlabelled_day = binary_result[
        (binary_result["date"] == START + dt.timedelta(days=3))
        & binary_result["is_estimated"]
        & (binary_result["segment_column"] == ALL)
    ]
    assert len(unlabelled_day) == 7
    assert unlabelled_day["value"].notna().all()


def test_wilson_intervals(binary_result: pd.DataFrame, binary_data: pd.DataFrame) -> None:
    """Proportions carry statsmodels' Wilson interval on their own denominator; others none."""
    checked = 0
    for (day, column, value), group in _groups(binary_result):
        rows = _group_rows(binary_data, day, column, value)
        labelled = rows[rows["label"].notna()]
        scored = rows[rows["score"].notna()]
        denominators = {
            (False, "accuracy"): len(labelled),
            (False, "precision"): int(labelled["yhat"].sum()),
            (False, "recall"): int(labelled["y"].sum()),
            (True, "accuracy"): len(scored),
            (True, "precision"): int(scored["yhat"].sum()),
            (True, "recall"): float(scored["score"].sum()),
            (True, "specificity"): float((1 - scored["score"]).sum()),
            (False, "specificity"): int((~labelled["y"]).sum()),
            (False, "positive_rate"): len(rows),
        }
        for row in group.itertuples():
            nobs = denominators.get((row.is_estimated, row.metric))
            if row.metric == "roc_auc":
                continue  # Hanley-McNeil, checked in test_auc_interval
            if nobs is None or pd.isna(row.value):
                assert pd.isna(row.ci_low) and pd.isna(row.ci_high), row
                continue
            low, high = proportion_confint(row.value * nobs, nobs, alpha=0.05, method="wilson")
            assert row.ci_low == pytest.approx(low, rel=1e-9, abs=1e-12), row
            assert row.ci_high == pytest.approx(high, rel=1e-9, abs=1e-12), row
            assert row.ci_low <= row.value <= row.ci_high
            checked += 1
    assert checked > 150


def test_regression_matches_sklearn(
    regression_result: pd.DataFrame, regression_data: pd.DataFrame
) -> None:
    assert list(regression_result.columns) == COLUMNS
    assert not regression_result["is_estimated"].any()
    # Intervals are checked in test_performance_metrics_extended::test_error_intervals.
    without_interval = ~regression_result["metric"].isin(["mae", "rmse", "mean_error", "mape"])
    assert regression_result.loc[without_interval, ["ci_low", "ci_high"]].isna().all().all()
    assert set(regression_result.loc[without_interval, "metric"]) == {
        "median_ae",
        "r2",
        "mape_excluded",
    }
    checked = 0
    for (day, column, value), group in _groups(regression_result):
        rows = _group_rows(regression_data, day, column, value)
        labelled = rows[rows["label"].notna()]
        y, yhat = labelled["label"].to_numpy(), labelled["prediction"].to_numpy()
        nonzero = y != 0
        expected = {
            "mae": skm.mean_absolute_error(y, yhat) if len(y) else None,
            "rmse": skm.root_mean_squared_error(y, yhat) if len(y) else None,
            "mape": skm.mean_absolute_percentage_error(y[nonzero], yhat[nonzero])
            if nonzero.any()
            else None,
            "r2": skm.r2_score(y, yhat) if len(np.unique(y)) > 1 else None,
            "median_ae": skm.median_absolute_error(y, yhat) if len(y) else None,
            "mean_error": float(np.mean(yhat - y)) if len(y) else None,
            "mape_excluded": float((~nonzero).sum()) if len(y) else None,
        }
        actual = _values(group, estimated=False)
        assert set(actual) == set(expected)
        for metric, want in expected.items():
            _assert_close(actual[metric], want, f"{day} {column}={value} {metric}")
            checked += want is not None
        assert (group["n"] == len(labelled)).all()
        coverage = len(labelled) / len(rows)
        assert group["label_coverage"].to_numpy() == pytest.approx(coverage, rel=COVERAGE_REL)
    assert checked > 40


def test_regression_degenerate_groups(regression_result: pd.DataFrame) -> None:
    by_store = regression_result[regression_result["segment_column"] == "store"]
    flat = by_store[(by_store["segment_value"] == "flat") & (by_store["metric"] == "r2")]
    assert len(flat) and flat["value"].isna().all()  # sklearn would say 0.0 or 1.0
    zeros = by_store[by_store["segment_value"] == "zeros"].set_index("metric")["value"]
    assert zeros.loc["mape"].isna().all()  # sklearn would divide by eps and say ~1e15
    assert zeros.loc["mae"].notna().all()


def test_metric_direction_and_registry() -> None:
    assert metric_direction(Task.BINARY_CLASSIFICATION, "roc_auc") is True
    assert metric_direction("binary_classification", "log_loss") is False
    assert metric_direction(Task.REGRESSION, "mae") is False
    assert metric_direction(Task.REGRESSION, "r2") is True
    with pytest.raises(KeyError):
        metric_direction(Task.REGRESSION, "roc_auc")
    for task, entries in METRICS.items():
        names = [m.name for m in entries]
        assert len(names) == len(set(names)), task
        assert all(m.task is task for m in entries)


@pytest.mark.parametrize(
    ("predicted_class", "accuracy", "source"),
    # threshold: 0.9 -> 1, 0.1 -> 0, the unscored row takes its logged '1': all right.
    # logged: the logged classes 0, 1, 1 against labels 1, 0, 1: one right.
    [("threshold", 1.0, "mixed"), ("logged", 1 / 3, "logged")],
)
def test_predicted_class_setting_and_quoted_names(
    predicted_class: str, accuracy: float, source: str
) -> None:
    """Where the class comes from follows `predicted_class`; a hostile segment name and a table
    name needing quotes go through unharmed."""
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE "odd table" AS SELECT * FROM (VALUES
        (DATE '2024-03-01', 'a', '0', 0.9, '1', 'x'),
        (DATE '2024-03-01', 'b', '1', 0.1, '0', 'x'),
        (DATE '2024-03-01', 'c', '1', NULL, '1', NULL))
        AS t(date, prediction_id, prediction, score, label, "x"" ; DROP TABLE t; --")"""
    )
    model = ModelConfig(
        model_id="m",
        task=Task.BINARY_CLASSIFICATION,
        segments=['x" ; DROP TABLE t; --'],
        start_date=START,
        predicted_class=predicted_class,
    )
    result = compute_performance(con, model, "odd table")
    overall = result[(result["segment_column"] == ALL) & ~result["is_estimated"]]
    values = overall.set_index("metric")["value"]
    assert values["accuracy"] == pytest.approx(accuracy, rel=1e-12)
    assert overall.set_index("metric").loc["accuracy", "predicted_from"] == source
    assert values["roc_auc"] == 1.0
    assert set(result["segment_column"]) == {ALL, 'x" ; DROP TABLE t; --'}
    assert overall["label_coverage"].to_numpy() == pytest.approx(1.0, rel=COVERAGE_REL)


def test_missing_columns_are_named() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE s AS SELECT DATE '2024-03-01' AS date, 1.0 AS prediction")
    model = ModelConfig(model_id="m", task=Task.REGRESSION, segments=["store"], start_date=START)
    with pytest.raises(ValueError, match="label"):
        compute_performance(con, model, "s")


def test_empty_input_gives_empty_frame() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE s (date DATE, prediction_id VARCHAR, prediction VARCHAR, score DOUBLE, "
        "label VARCHAR)"
    )
    model = ModelConfig(model_id="m", task=Task.BINARY_CLASSIFICATION, start_date=START)
    result = compute_performance(con, model, "s")
    assert result.empty
    assert list(result.columns) == COLUMNS
