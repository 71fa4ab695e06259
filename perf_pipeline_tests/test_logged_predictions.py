"""Binary metrics judge the class the system acted on: the logged `prediction`, the thresholded
score only where the log has none (`predicted_class: logged`, the default), or always the
threshold (`predicted_class: threshold`). Checked against scikit-learn on the same rows, per
segment, through the stored `performance` partitions and the reference baseline."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.lake import connect, read_table_sql, write_frame_partitions
from perf_pipeline.metrics.performance import (
    ALL,
    FAIRNESS_GROUPS,
    LOGGED,
    MIXED,
    THRESHOLD,
    compute_performance,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables import performance as performance_table
from perf_pipeline.tables.reference import materialize_reference

START = dt.date(2026, 3, 1)
DAYS = [START, START + dt.timedelta(days=1)]
CUTOFF = 0.4
DECISION_METRICS = ["accuracy", "precision", "recall", "f1", "balanced_accuracy"]
SCORE_METRICS = ["roc_auc", "log_loss", "brier", "pr_auc", "ece"]
REL = 1e-12


def _model(predicted_class: str = "logged") -> ModelConfig:
    return ModelConfig(
        model_id="fraud",
        task=Task.BINARY_CLASSIFICATION,
        positive_class=1,
        decision_threshold=CUTOFF,
        predicted_class=predicted_class,
        features={"numerical": ["amount"]},
        segments=["channel"],
        protected_attributes=["age_band"],
        start_date=START,
    )


def _frame(seed: int = 3, n: int = 4000) -> pd.DataFrame:
    """Logged classes that disagree with the threshold on about 4 % of rows, about 3 % of them
    NULL (never in `kiosk`, so that segment is decided by the log alone), a fifth unlabelled."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "date": rng.choice(DAYS, n),
            "prediction_id": [f"p{i}" for i in range(n)],
            "amount": rng.gamma(2.0, 30.0, n),
            "channel": rng.choice(["web", "app", "kiosk"], n, p=[0.45, 0.4, 0.15]),
            "age_band": rng.choice(["18-30", "31-50", "51+"], n),
            "score": np.round(rng.uniform(0, 1, n), 3),
        }
    )
    decided = frame["score"] >= CUTOFF
    overridden = rng.uniform(size=n) < 0.04  # a rule or a reviewer overturned the model
    logged = np.where(decided ^ overridden, "1", "0").astype(object)
    missing = (rng.uniform(size=n) < 0.03) & (frame["channel"] != "kiosk")
    logged[missing] = None
    frame["prediction"] = logged
    label = np.where(rng.uniform(size=n) < frame["score"], "1", "0").astype(object)
    label[rng.uniform(size=n) < 0.2] = None
    frame["label"] = label
    return frame


def _decisions(frame: pd.DataFrame, predicted_class: str) -> pd.Series:
    """The predicted class as the setting defines it, computed here independently."""
    thresholded = frame["score"] >= CUTOFF
    if predicted_class == THRESHOLD:
        return thresholded
    return frame["prediction"].eq("1").where(frame["prediction"].notna(), thresholded)


def _sklearn(rows: pd.DataFrame, yhat: pd.Series) -> dict[str, float]:
    labelled = rows["label"].notna()
    y = rows.loc[labelled, "label"].eq("1").to_numpy()
    predicted = yhat[labelled].to_numpy(dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "accuracy": skm.accuracy_score(y, predicted),
            "precision": skm.precision_score(y, predicted),
            "recall": skm.recall_score(y, predicted),
            "f1": skm.f1_score(y, predicted),
            "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        }


def _performance(frame: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    con = duckdb.connect()
    con.register("incoming", frame)
    con.execute(
        "CREATE TABLE scored AS SELECT * REPLACE (CAST(date AS DATE) AS date, "
        "CAST(prediction AS VARCHAR) AS prediction, CAST(label AS VARCHAR) AS label) "
        "FROM incoming"
    )
    return compute_performance(con, model, "scored")


def _group(frame: pd.DataFrame, day: dt.date, column: str, value: str) -> pd.DataFrame:
    rows = frame[frame["date"] == day]
    return rows if column == ALL else rows[rows[column] == value]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


def test_the_data_disagrees_with_the_threshold_on_a_few_per_cent(frame: pd.DataFrame) -> None:
    logged = frame["prediction"].notna()
    disagree = (frame["prediction"].eq("1") != (frame["score"] >= CUTOFF)) & logged
    assert 0.02 < disagree.mean() < 0.06
    assert 0.01 < (~logged).mean() < 0.05


@pytest.mark.parametrize("predicted_class", [LOGGED, THRESHOLD])
def test_decision_metrics_match_sklearn_per_segment(
    frame: pd.DataFrame, predicted_class: str
) -> None:
    result = _performance(frame, _model(predicted_class))
    yhat = _decisions(frame, predicted_class)
    realized = result[~result["is_estimated"] & (result["segment_value"] != FAIRNESS_GROUPS)]
    checked = 0
    for (day, column, value), group in realized.groupby(
        ["date", "segment_column", "segment_value"]
    ):
        rows = _group(frame, day, column, value)
        expected = _sklearn(rows, yhat[rows.index])
        values = group.set_index("metric")["value"]
        for metric, want in expected.items():
            assert values[metric] == pytest.approx(want, rel=REL), (day, column, value, metric)
            checked += 1
    assert checked == len(DAYS) * (1 + 3 + 3) * len(DECISION_METRICS)


def test_the_two_settings_really_differ_on_this_data(frame: pd.DataFrame) -> None:
    """Otherwise the sklearn comparison above could not tell them apart."""
    logged, thresholded = (
        _performance(frame, _model(setting)).set_index(
            ["date", "segment_column", "segment_value", "metric", "is_estimated"]
        )["value"]
        for setting in (LOGGED, THRESHOLD)
    )
    key = (DAYS[0], ALL, ALL, "accuracy", False)
    assert abs(logged[key] - thresholded[key]) > 0.005


def test_predicted_from_names_the_source_of_the_rows_each_metric_reads(
    frame: pd.DataFrame,
) -> None:
    result = _performance(frame, _model(LOGGED)).set_index(
        ["date", "segment_column", "segment_value", "metric", "is_estimated"]
    )["predicted_from"]
    day = DAYS[0]
    for metric in [*DECISION_METRICS, "positive_rate", "tp", "fn", "specificity"]:
        # NULL logged classes in the overall group: some rows fell back to the threshold.
        assert result[(day, ALL, ALL, metric, False)] == MIXED
        # kiosk never misses its logged class.
        assert result[(day, "channel", "kiosk", metric, False)] == LOGGED
    for metric in SCORE_METRICS:
        assert pd.isna(result[(day, ALL, ALL, metric, False)])
    for metric in ["accuracy", "precision", "recall", "f1"]:
        assert result[(day, ALL, ALL, metric, True)] == THRESHOLD  # estimates judge the score
    assert result[(day, "age_band", FAIRNESS_GROUPS, "demographic_parity_difference", False)] in (
        MIXED,
        LOGGED,
    )
    by_threshold = _performance(frame, _model(THRESHOLD))
    decided = by_threshold[by_threshold["metric"].isin(DECISION_METRICS)]
    assert set(decided["predicted_from"]) == {THRESHOLD}


def test_estimates_and_fairness_follow_their_own_definitions(frame: pd.DataFrame) -> None:
    """Estimates stay the score's expected outcomes in either setting; the positive-rate
    fairness difference compares the logged decisions."""
    result = _performance(frame, _model(LOGGED))
    day_rows = frame[frame["date"] == DAYS[0]]
    p = day_rows["score"].to_numpy()
    expected_accuracy = np.where(p >= CUTOFF, p, 1 - p).mean()
    estimated = result[
        result["is_estimated"]
        & (result["date"] == DAYS[0])
        & (result["segment_column"] == ALL)
        & (result["metric"] == "accuracy")
    ]
    assert estimated["value"].item() == pytest.approx(expected_accuracy, rel=REL)
    yhat = _decisions(day_rows, LOGGED)
    rates = yhat.groupby(day_rows["age_band"]).mean()
    parity = result[
        (result["date"] == DAYS[0]) & (result["metric"] == "demographic_parity_difference")
    ]
    assert parity["value"].item() == pytest.approx(rates.max() - rates.min(), rel=REL)


def test_other_tasks_have_no_predicted_from() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE s AS SELECT DATE '2026-03-01' AS date, 'a' AS prediction_id, "
        "2.0 AS prediction, 1.5 AS label"
    )
    model = ModelConfig(model_id="m", task=Task.REGRESSION, start_date=START)
    assert compute_performance(con, model, "s")["predicted_from"].isna().all()


def test_stored_partitions_carry_predicted_from(tmp_path: Path, frame: pd.DataFrame) -> None:
    """Through the lake: predictions with NULL logged classes, labels, `compute_days` and
    `write_days`; the partitions read back hold the logged-class metrics and their source."""
    paths = DataPaths(tmp_path)
    model = _model(LOGGED)
    con = connect()
    predictions = frame.drop(columns=["label"]).assign(model_id=model.model_id)
    schema = {c: "VARCHAR" for c in predictions.columns} | {
        "date": "DATE",
        "score": "DOUBLE",
        "amount": "DOUBLE",
    }
    write_frame_partitions(con, paths, "predictions", model.model_id, predictions, schema, DAYS)
    labels = frame.loc[frame["label"].notna(), ["prediction_id", "label", "date"]].assign(
        model_id=model.model_id, arrival_date=frame["date"], label_timestamp=None
    )
    label_schema = dict.fromkeys(["model_id", "prediction_id", "label"], "VARCHAR") | {
        "date": "DATE",
        "arrival_date": "DATE",
        "label_timestamp": "TIMESTAMPTZ",
    }
    write_frame_partitions(con, paths, "labels", model.model_id, labels, label_schema, DAYS)
    performance_table.write_days(
        con, paths, model, DAYS, performance_table.compute_days(con, paths, model, DAYS)
    )
    stored = con.execute(
        f"SELECT * FROM {read_table_sql(paths, 'performance', model.model_id)} "
        "WHERE segment_column = '__all__' AND NOT is_estimated AND metric = 'accuracy' "
        "ORDER BY date"
    ).df()
    assert list(stored["predicted_from"]) == [MIXED, MIXED]
    for day, value in zip(DAYS, stored["value"], strict=True):
        rows = frame[frame["date"] == day]
        want = _sklearn(rows, _decisions(frame, LOGGED)[rows.index])["accuracy"]
        assert value == pytest.approx(want, rel=REL)


def _write_reference(paths: DataPaths, frame: pd.DataFrame) -> None:
    folder = paths.landing_reference("fraud")
    folder.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=["date", "prediction_id"]).to_parquet(folder / "validation.parquet")


@pytest.mark.parametrize("carries_prediction", [True, False])
def test_reference_baseline_judges_the_logged_classes_when_it_has_them(
    tmp_path: Path, frame: pd.DataFrame, carries_prediction: bool
) -> None:
    """The baseline `max_drop` compares with is measured the same way as the days."""
    paths = DataPaths(tmp_path)
    model = _model(LOGGED)
    reference = frame[frame["label"].notna()].copy()
    if not carries_prediction:
        reference = reference.drop(columns=["prediction"])
    _write_reference(paths, reference)
    con = connect()
    materialize_reference(con, paths, model)
    baseline = performance_table.write_reference_performance(con, paths, model)
    overall = baseline[(baseline["segment_column"] == ALL) & ~baseline["is_estimated"]]
    overall = overall.set_index("metric")
    thresholded = reference["score"] >= CUTOFF
    yhat = _decisions(reference, LOGGED) if carries_prediction else thresholded
    expected = _sklearn(reference, yhat)
    for metric, want in expected.items():
        assert overall.loc[metric, "value"] == pytest.approx(want, rel=REL), metric
    source = MIXED if carries_prediction else THRESHOLD
    assert overall.loc["accuracy", "predicted_from"] == source


def test_a_binary_reference_without_prediction_or_score_is_refused(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    paths = DataPaths(tmp_path)
    _write_reference(paths, frame.drop(columns=["prediction", "score"]))
    with pytest.raises(Exception, match=r"validation\.parquet.*'prediction' or 'score'"):
        materialize_reference(connect(), paths, _model(LOGGED))
