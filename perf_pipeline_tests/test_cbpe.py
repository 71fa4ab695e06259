"""Confidence-based performance estimation on synthetic streams whose truth is known.

Each stream draws every row's true probability of being positive, its label from it, and the
logged score from it (calibrated, or distorted). The labels stay in memory: the lake holds the
reference (labelled) and the predictions only, as on days whose labels have not landed, and each
estimate is compared with the realized metric scikit-learn computes on the same rows.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from perf_pipeline.config import ModelConfig
from perf_pipeline.estimation.cbpe import day_calibrations, stored_calibration_path
from perf_pipeline.lake import day_files, read_files_sql, write_partitions, write_single
from perf_pipeline.metrics.performance import ALL, compute_performance
from perf_pipeline.paths import DataPaths

START = dt.date(2026, 3, 1)
DAYS = 30
ROWS = 2000
BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc")


def _binary_model(**extra: object) -> ModelConfig:
    return ModelConfig(model_id="cbpe", task="binary_classification", start_date=START, **extra)


def _multiclass_model() -> ModelConfig:
    return ModelConfig(
        model_id="cbpe3",
        task="multiclass_classification",
        classes=["a", "b", "c"],
        start_date=START,
    )


def _binary_rows(rng: np.random.Generator, n: int, truth, distort) -> pd.DataFrame:
    """`n` rows: true probability from `truth(rng, n)`, label from it, score `distort(p)`."""
    p = truth(rng, n)
    return pd.DataFrame(
        {"score": distort(p), "label": np.where(rng.random(n) < p, "1", "0"), "truth": p}
    )


def _beta(a: float, b: float):
    return lambda rng, n: rng.beta(a, b, n)


def _stream(rng, truths, distort) -> pd.DataFrame:
    """One day per entry of `truths`, `ROWS` rows each."""
    days = []
    for i, truth in enumerate(truths):
        day = _binary_rows(rng, ROWS, truth, distort)
        day["date"] = START + dt.timedelta(days=i)
        day["prediction_id"] = [f"{i}-{j}" for j in range(ROWS)]
        days.append(day)
    return pd.concat(days, ignore_index=True)


def _lake(tmp_path: Path, model: ModelConfig, reference: pd.DataFrame, stream: pd.DataFrame):
    """A real lake: the typed reference and the day partitions of predictions (no labels)."""
    paths = DataPaths(tmp_path)
    con = duckdb.connect()
    _write_reference(con, paths, model, reference)
    logged = stream.drop(columns=["label", "truth"], errors="ignore")
    con.register("logged", logged)
    days = sorted(set(stream["date"]))
    write_partitions(con, paths, "predictions", model.model_id, "logged", days)
    con.unregister("logged")
    return con, paths, days


def _write_reference(con, paths: DataPaths, model: ModelConfig, reference: pd.DataFrame) -> None:
    con.register("reference_rows", reference.drop(columns=["truth"], errors="ignore"))
    write_single(con, paths, "reference", model.model_id, "SELECT * FROM reference_rows")
    con.unregister("reference_rows")


def _performance(con, paths, model, days, calibrated: bool = True) -> pd.DataFrame:
    """What `tables.performance.compute_days` computes with the estimation hook (the report's
    diff): the day's predictions, no label landed, estimates from the stored calibration."""
    files = day_files(paths, "predictions", model.model_id, days)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW scored AS "
        f"SELECT *, CAST(NULL AS VARCHAR) AS label FROM {read_files_sql(files)}"
    )
    calibrations = day_calibrations(con, paths, model, days) if calibrated else None
    return compute_performance(con, model, "scored", calibrations)


def _estimates(result: pd.DataFrame) -> pd.DataFrame:
    rows = result[result["is_estimated"] & (result["segment_column"] == ALL)]
    return rows.set_index(["date", "metric"])


def _realized_binary(rows: pd.DataFrame) -> dict[str, float]:
    y = rows["label"].to_numpy() == "1"
    yhat = rows["score"].to_numpy() >= 0.5
    return {
        "accuracy": accuracy_score(y, yhat),
        "precision": precision_score(y, yhat),
        "recall": recall_score(y, yhat),
        "f1": f1_score(y, yhat),
        "specificity": recall_score(~y, ~yhat),
        "roc_auc": roc_auc_score(y, rows["score"]),
        "pr_auc": average_precision_score(y, rows["score"]),
    }


def _errors(stream: pd.DataFrame, estimates: pd.DataFrame, metrics) -> pd.DataFrame:
    """Per day and metric: estimate, realized, whether realized is inside the interval."""
    records = []
    for day, rows in stream.groupby("date"):
        realized = _realized_binary(rows)
        for metric in metrics:
            row = estimates.loc[(day, metric)]
            records.append(
                {
                    "date": day,
                    "metric": metric,
                    "estimate": row["value"],
                    "realized": realized[metric],
                    "inside": row["ci_low"] <= realized[metric] <= row["ci_high"],
                    "n": row["n"],
                }
            )
    frame = pd.DataFrame(records)
    frame["error"] = (frame["estimate"] - frame["realized"]).abs()
    return frame


@pytest.fixture(scope="module")
def calibrated_stream() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    reference = _binary_rows(rng, 20_000, _beta(0.6, 0.9), lambda p: p)
    return reference, _stream(rng, [_beta(0.6, 0.9)] * DAYS, lambda p: p)


def test_calibrated_scores_estimates_land_in_their_intervals(tmp_path, calibrated_stream) -> None:
    reference, stream = calibrated_stream
    model = _binary_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    estimates = _estimates(_performance(con, paths, model, days))
    errors = _errors(stream, estimates, BINARY_METRICS)
    assert (errors["n"] == ROWS).all()
    coverage = errors.groupby("metric")["inside"].mean()
    assert (coverage >= 0.8).all(), coverage
    assert errors.groupby("metric")["error"].mean().max() < 0.03


def test_intervals_are_the_reference_sampling_error(tmp_path, calibrated_stream) -> None:
    """±1.96·se_unit/√n, with se_unit the sd of the realized metric over reference chunks."""
    reference, stream = calibrated_stream
    model = _binary_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    (calibration,) = day_calibrations(con, paths, model, days).values()
    assert set(calibration.se_units) == set(BINARY_METRICS)
    estimates = _estimates(_performance(con, paths, model, days))
    for metric in BINARY_METRICS:
        row = estimates.loc[(days[0], metric)]
        half = 1.959963984540054 * calibration.se_units[metric] / np.sqrt(ROWS)
        assert row["ci_high"] == pytest.approx(min(row["value"] + half, 1.0), rel=1e-9)
        assert row["ci_low"] == pytest.approx(max(row["value"] - half, 0.0), rel=1e-9)
        # The sd of the realized metric over days of ROWS rows is what the interval claims.
        realized = [_realized_binary(rows)[metric] for _, rows in stream.groupby("date")]
        assert np.std(realized, ddof=1) == pytest.approx(half / 1.96, rel=0.45)


def test_miscalibrated_scores_calibration_helps(tmp_path) -> None:
    rng = np.random.default_rng(12)
    distort = lambda p: p**3  # noqa: E731 - the distortion under test
    reference = _binary_rows(rng, 20_000, _beta(1, 1), distort)
    stream = _stream(rng, [_beta(1, 1)] * DAYS, distort)
    model = _binary_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    stored = stored_calibration_path(paths, model, None)
    metrics = ("accuracy", "precision", "recall", "f1", "specificity", "pr_auc")
    cbpe = _errors(stream, _estimates(_performance(con, paths, model, days)), metrics)
    raw = _errors(stream, _estimates(_performance(con, paths, model, days, False)), metrics)
    assert '"isotonic' in stored.read_text()
    cbpe_mae = cbpe.groupby("metric")["error"].mean()
    raw_mae = raw.groupby("metric")["error"].mean()
    assert (cbpe_mae < 0.03).all(), cbpe_mae
    assert (cbpe_mae < 0.5 * raw_mae).all(), pd.DataFrame({"cbpe": cbpe_mae, "raw": raw_mae})
    assert cbpe.groupby("metric")["inside"].mean().min() >= 0.8


def test_estimates_use_sklearn_isotonic_predictions(tmp_path) -> None:
    """The SQL's interpolation is sklearn's IsotonicRegression(out_of_bounds='clip').predict."""
    rng = np.random.default_rng(13)
    distort = lambda p: np.sqrt(p)  # noqa: E731
    reference = _binary_rows(rng, 5000, _beta(1, 2), distort)
    stream = _stream(rng, [_beta(1, 2)] * 2, distort)
    model = _binary_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    estimates = _estimates(_performance(con, paths, model, days))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(reference["score"], (reference["label"] == "1").astype(float))
    for day, rows in stream.groupby("date"):
        q, yhat = iso.predict(rows["score"]), rows["score"].to_numpy() >= 0.5
        expected = np.where(yhat, q, 1 - q).mean()
        assert estimates.loc[(day, "accuracy"), "value"] == pytest.approx(expected, rel=1e-9)
        # Each row once as a positive weighted q and once as a negative weighted 1 - q.
        doubled = np.r_[rows["score"], rows["score"]]
        truth = np.r_[np.ones(len(q)), np.zeros(len(q))]
        auc = roc_auc_score(truth, doubled, sample_weight=np.r_[q, 1 - q])
        assert estimates.loc[(day, "roc_auc"), "value"] == pytest.approx(auc, rel=1e-9)


def test_covariate_shift_towards_half_the_estimate_follows(tmp_path) -> None:
    rng = np.random.default_rng(14)
    distort = lambda p: p**2  # noqa: E731
    reference = _binary_rows(rng, 20_000, _beta(0.5, 0.5), distort)
    truths = [_beta(0.5, 0.5)] * 10 + [_beta(4, 4)] * 10
    stream = _stream(rng, truths, distort)
    model = _binary_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    errors = _errors(stream, _estimates(_performance(con, paths, model, days)), ("accuracy",))
    before, after = errors.iloc[:10], errors.iloc[10:]
    realized_drop = before["realized"].mean() - after["realized"].mean()
    estimated_drop = before["estimate"].mean() - after["estimate"].mean()
    assert realized_drop > 0.15
    assert estimated_drop == pytest.approx(realized_drop, abs=0.03)
    assert after["error"].mean() < 0.03


def _multiclass_stream(rng, days: int, n: int) -> pd.DataFrame:
    """True class probabilities from a Dirichlet, scores over-confident (t² renormalized)."""
    classes = np.array(["a", "b", "c"])
    truth = rng.dirichlet([0.8, 0.8, 0.8], days * n)
    labels = classes[(rng.random(days * n)[:, None] > truth.cumsum(axis=1)).sum(axis=1)]
    scores = truth**2 / (truth**2).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({f"score_{c}": scores[:, i] for i, c in enumerate(classes)})
    frame["prediction"] = classes[scores.argmax(axis=1)]
    frame["label"] = labels
    frame["date"] = [START + dt.timedelta(days=int(i)) for i in np.arange(days * n) // n]
    frame["prediction_id"] = [str(i) for i in range(days * n)]
    return frame


def _realized_multiclass(rows: pd.DataFrame) -> dict[str, float]:
    y, yhat = rows["label"], rows["prediction"]
    scores = rows[["score_a", "score_b", "score_c"]].to_numpy()
    return {
        "accuracy": accuracy_score(y, yhat),
        "precision_macro": precision_score(y, yhat, average="macro"),
        "recall_macro": recall_score(y, yhat, average="macro"),
        "f1_macro": f1_score(y, yhat, average="macro"),
        "f1_weighted": f1_score(y, yhat, average="weighted"),
        "roc_auc_ovr_macro": roc_auc_score(y, scores, multi_class="ovr", labels=["a", "b", "c"]),
    }


def test_multiclass_three_classes(tmp_path) -> None:
    rng = np.random.default_rng(15)
    reference = _multiclass_stream(rng, 1, 20_000).drop(columns=["date", "prediction_id"])
    stream = _multiclass_stream(rng, 20, ROWS)
    model = _multiclass_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    estimates = _estimates(_performance(con, paths, model, days))
    raw = _estimates(_performance(con, paths, model, days, calibrated=False))
    errors, raw_errors, inside = [], [], []
    for day, rows in stream.groupby("date"):
        for metric, realized in _realized_multiclass(rows).items():
            row = estimates.loc[(day, metric)]
            errors.append((metric, abs(row["value"] - realized)))
            raw_errors.append((metric, abs(raw.loc[(day, metric), "value"] - realized)))
            if metric == "accuracy":
                inside.append(row["ci_low"] <= realized <= row["ci_high"])
    mae = pd.DataFrame(errors, columns=["metric", "e"]).groupby("metric")["e"].mean()
    raw_mae = pd.DataFrame(raw_errors, columns=["metric", "e"]).groupby("metric")["e"].mean()
    assert (mae < 0.03).all(), mae
    assert mae["accuracy"] < 0.5 * raw_mae["accuracy"]
    assert np.mean(inside) >= 0.8


def test_calibration_fitted_once_and_refitted_when_the_reference_changes(tmp_path) -> None:
    rng = np.random.default_rng(16)
    distort = lambda p: p**3  # noqa: E731
    reference = _binary_rows(rng, 5000, _beta(1, 1), distort)
    stream = _stream(rng, [_beta(1, 1)] * 3, distort)
    model = _binary_model()
    con, paths, days = _lake(tmp_path, model, reference, stream)
    stored = stored_calibration_path(paths, model, None)
    first = _performance(con, paths, model, days)
    written = stored.stat().st_mtime_ns
    second = _performance(con, paths, model, days)
    assert stored.stat().st_mtime_ns == written  # read back, not fitted again
    pd.testing.assert_frame_equal(first, second)
    before = stored.read_text()
    # A new reference (scores now calibrated): fitted again on first use, estimates move.
    _write_reference(con, paths, model, _binary_rows(rng, 5000, _beta(1, 1), lambda p: p))
    third = _performance(con, paths, model, days)
    assert stored.read_text() != before
    accuracy = _estimates(third).loc[(days[0], "accuracy"), "value"]
    assert accuracy != pytest.approx(_estimates(first).loc[(days[0], "accuracy"), "value"])
    os.utime(stored, ns=(written, written))  # an old mtime alone changes nothing
    assert _performance(con, paths, model, days).equals(third)
