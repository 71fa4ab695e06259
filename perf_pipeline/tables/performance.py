"""The `performance` table for a range of days: predictions joined with the latest labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.lake import (
    day_files,
    has_files,
    read_files_sql,
    read_table_sql,
    write_frame_partitions,
    write_single,
)
from perf_pipeline.metrics.performance import COLUMNS, compute_performance
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import PERFORMANCE
from perf_pipeline.sql import quote_literal
from perf_pipeline.tables.serving import production_rows_sql
from perf_pipeline.tables.wanted_ids import ids_filter

# `predicted_from` is an addition to the table (README, contract notes); declared here until the
# shared schema lists it, so every partition is written with it whatever pandas inferred.
SCHEMA = {**PERFORMANCE, "predicted_from": "VARCHAR"}

_LATEST_LABELS = """
SELECT prediction_id, arg_max(label, (arrival_date, label_timestamp)) AS label
FROM {source} WHERE {wanted} GROUP BY prediction_id
"""
_WANTED_IDS = "_performance_wanted_ids"


def label_days(model: ModelConfig, days: list[dt.date]) -> list[dt.date]:
    """The prediction days whose labels the run reads: its own, and for a trailing reference
    the window before each (the loss models of a trailing window are fitted on its labels)."""
    wanted = set(days)
    if model.reference.source != "file":
        span = model.reference.days or 1
        wanted |= {d - dt.timedelta(days=i) for d in days for i in range(1, span + 1)}
    return sorted(wanted)


def _latest_labels(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """`latest_labels`: the latest label of each prediction of `days` (and of the trailing
    windows that read it, `label_days`); only those ids' labels are read (`wanted_ids`), the
    same rows the joins would keep from every label, however long the labels history is."""
    files = day_files(paths, "predictions", model.model_id, label_days(model, days))
    if files and has_files(paths, "labels", model.model_id):
        source = read_table_sql(paths, "labels", model.model_id)
        ids = f"SELECT prediction_id FROM {read_files_sql(files)}"
        wanted = ids_filter(con, ids, _WANTED_IDS)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE latest_labels AS "
            + _LATEST_LABELS.format(source=source, wanted=wanted)
        )
    else:
        label_type = "DOUBLE" if model.task.value == "regression" else "VARCHAR"
        con.execute(
            "CREATE OR REPLACE TEMP TABLE latest_labels "
            f"(prediction_id VARCHAR, label {label_type})"
        )


def compute_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    """Performance rows of `days`: realized where labels arrived, and estimated for every
    group (the registry's estimates for classifiers, `_ESTIMATORS` rows for other tasks).

    Production's rows only: a shadow version's rows would make the day a mixture of two models
    (`scored` feeds the realized and the estimated rows alike)."""
    files = day_files(paths, "predictions", model.model_id, days)
    if not files:
        return pd.DataFrame(columns=COLUMNS)
    _latest_labels(con, paths, model, days)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW scored AS "
        f"SELECT p.*, l.label FROM {production_rows_sql(files, model)} AS p "
        "LEFT JOIN latest_labels AS l USING (prediction_id)"
    )
    from perf_pipeline.estimation.cbpe import day_calibrations

    # Classifiers' estimates are registry entries over calibrated scores (CBPE): the calibration
    # of the reference travels with the query. Other tasks' estimators add rows afterwards.
    calibrations = day_calibrations(con, paths, model, days)
    registry_rows = compute_performance(con, model, "scored", calibrations)
    estimated = _estimated_rows(con, paths, model, days)
    if estimated.empty:
        return registry_rows
    # Stable on the day, so each partition holds the registry's rows first, then the estimator's.
    estimated = estimated.astype(registry_rows.dtypes.to_dict())
    frame = pd.concat([registry_rows, estimated], ignore_index=True)
    return frame.sort_values("date", kind="stable", ignore_index=True)


# Reads the `scored` view and `latest_labels` table `compute_days` prepares; returns extra
# `is_estimated` rows in `COLUMNS` shape (no rows: an empty frame).
Estimator = Callable[
    [duckdb.DuckDBPyConnection, DataPaths, ModelConfig, list[dt.date]], pd.DataFrame
]


def _direct_loss_estimation(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    from perf_pipeline.estimation.dle_days import dle_rows

    return dle_rows(con, paths, model, days, scored="scored", labels="latest_labels")


# One entry per task whose estimates come from a fitted estimator rather than the metric
# registry's `estimate_sql` (which `compute_performance` already returns).
_ESTIMATORS: dict[Task, Estimator] = {Task.REGRESSION: _direct_loss_estimation}


def _estimated_rows(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    """The estimator rows of the model's task for `days`, beside the realized ones."""
    estimator = _ESTIMATORS.get(model.task)
    if estimator is None or not days:
        return pd.DataFrame(columns=COLUMNS)
    return estimator(con, paths, model, days)


def write_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    frame: pd.DataFrame,
) -> dict[dt.date, int]:
    return write_frame_partitions(con, paths, "performance", model.model_id, frame, SCHEMA, days)


def write_reference_performance(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> pd.DataFrame:
    """Metrics of the reference set: the baseline that `max_drop` thresholds compare with.

    Computed like a production day's, so the baseline judges the same decisions: a binary
    reference that carries `prediction` is measured on those logged classes (with
    `predicted_class: logged`), one without it on the thresholded scores.
    """
    source = read_table_sql(paths, "reference", model.model_id)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW reference_scored AS "
        f"SELECT DATE {quote_literal('1970-01-01')} AS date, * FROM {source}"
    )
    frame = compute_performance(con, model, "reference_scored")
    con.register("_reference_performance", frame)
    write_single(
        con, paths, "reference_performance", model.model_id, "SELECT * FROM _reference_performance"
    )
    con.unregister("_reference_performance")
    return frame


def baseline_values(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, day: dt.date
) -> dict[str, float]:
    """Overall realized metric values to compare `day` with: the reference set, or the mean of
    the trailing window's days for a model whose reference is a window of production."""
    if model.reference.source == "file":
        if not has_files(paths, "reference_performance", model.model_id):
            return {}
        source = read_table_sql(paths, "reference_performance", model.model_id)
    else:
        window = [day - dt.timedelta(days=i) for i in range(model.reference.days or 1, 0, -1)]
        files = day_files(paths, "performance", model.model_id, window)
        if not files:
            return {}
        source = read_files_sql(files)
    rows = con.execute(
        f"SELECT metric, avg(value) FROM {source} WHERE segment_column = '__all__' "
        "AND NOT is_estimated AND value IS NOT NULL GROUP BY metric"
    ).fetchall()
    return {metric: value for metric, value in rows}


def baseline_lookup(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> Callable[[dt.date], dict[str, float]]:
    """`baseline_values` for the days of a run: a reference file's values do not depend on the
    day, so they are read once for the whole run instead of once per judged day."""
    if model.reference.source != "file":
        return lambda day: baseline_values(con, paths, model, day)
    values = baseline_values(con, paths, model, model.start_date)
    return lambda day: dict(values)
