"""Labels ingest: ground truth filed by the day it arrived.

A label may arrive days or weeks after its prediction, more than once (the last one wins), or for
a prediction we never accepted. Each stored label carries its prediction's date, which is what
tells the late-label sensor which past days of performance to recompute.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.ingest.landing import DAY, load_days
from perf_pipeline.ingest.predictions import DayResult
from perf_pipeline.ingest.readers import RAW_LINE
from perf_pipeline.ingest.rules import (
    ORDER_IN_LANDING,
    blank,
    canonical_class,
    first_failing,
    quarantine_select,
    reasons_by_day,
)
from perf_pipeline.lake import has_files, read_table_sql, write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

REQUIRED = ["prediction_id", "label"]
KNOWN = [*REQUIRED, "label_timestamp"]


def _label_value(model: ModelConfig) -> str:
    if model.task is Task.REGRESSION:
        return "TRY_CAST(label AS DOUBLE)"
    return canonical_class("label")


def _rules(model: ModelConfig) -> list[tuple[str, str]]:
    rules = [
        (f"{q(RAW_LINE)} IS NOT NULL", "malformed_json_line"),
        (blank("prediction_id"), "null_prediction_id"),
        (blank("label"), "null_label"),
        (
            "NOT "
            + blank("label_timestamp")
            + " AND TRY_CAST(label_timestamp AS TIMESTAMPTZ) IS NULL",
            "unparseable_label_timestamp",
        ),
    ]
    if model.task is Task.REGRESSION:
        rules.append(("TRY_CAST(label AS DOUBLE) IS NULL", "unparseable_label"))
        rules.append(("NOT isfinite(TRY_CAST(label AS DOUBLE))", "label_not_finite"))
    elif model.classes:
        allowed = ", ".join(quote_literal(str(c)) for c in model.classes)
        rules.append((f"{canonical_class('label')} NOT IN ({allowed})", "unknown_label_class"))
    rules.append(("known_id IS NULL", "unknown_prediction_id"))
    return rules


def _known_predictions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> None:
    if has_files(paths, "predictions", model.model_id):
        source = read_table_sql(paths, "predictions", model.model_id)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE known_predictions AS "
            f"SELECT prediction_id, min(date) AS prediction_date FROM {source} "
            "GROUP BY prediction_id"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE known_predictions "
            "(prediction_id VARCHAR, prediction_date DATE)"
        )


def ingest_labels(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, DayResult]:
    """Ingest labels that arrived on `days`; within a day the latest label per prediction wins."""
    loads = load_days(
        con,
        lambda d: paths.landing_day("labels", model.model_id, d),
        days,
        REQUIRED,
        KNOWN,
        "raw_labels",
    )
    _known_predictions(con, paths, model)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE judged_labels AS
        WITH first_pass AS (
            SELECT r.*, known.known_id, known.prediction_date,
                   TRY_CAST(r.label_timestamp AS TIMESTAMPTZ) AS _label_ts,
                   {first_failing(_rules(model))} AS _reason
            FROM raw_labels AS r
            LEFT JOIN (
                SELECT prediction_id AS known_id, prediction_date FROM known_predictions
            ) AS known
                ON known.known_id = trim(r.prediction_id)
        )
        SELECT * REPLACE (
            CASE WHEN _reason IS NULL AND row_number() OVER (
                PARTITION BY {q(DAY)}, trim(prediction_id), _reason IS NULL
                ORDER BY _label_ts DESC NULLS LAST, __file_index DESC, __row_number DESC
            ) > 1 THEN 'superseded_by_later_label' ELSE _reason END AS _reason
        )
        FROM first_pass
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE accepted_labels AS
        SELECT {quote_literal(model.model_id)} AS model_id,
               {q(DAY)} AS date,
               trim(prediction_id) AS prediction_id,
               {_label_value(model)} AS label,
               _label_ts AS label_timestamp,
               {q(DAY)} AS arrival_date,
               prediction_date,
               __source_file AS source_file
        FROM judged_labels WHERE _reason IS NULL ORDER BY {ORDER_IN_LANDING}
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE quarantined_labels AS SELECT "
        f"{quarantine_select(model.model_id, 'labels', KNOWN, q(DAY))} "
        f"FROM judged_labels WHERE _reason IS NOT NULL ORDER BY {ORDER_IN_LANDING}"
    )
    accepted = write_partitions(con, paths, "labels", model.model_id, "accepted_labels", days)
    quarantined = write_partitions(
        con, paths, "quarantine", model.model_id, "quarantined_labels", days, "labels.parquet"
    )
    reasons = reasons_by_day(con, "quarantined_labels")
    return {d: DayResult(loads[d], accepted[d], quarantined[d], reasons.get(d, {})) for d in days}
