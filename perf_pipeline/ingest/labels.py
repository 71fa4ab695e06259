"""Labels ingest: ground truth filed by the day it arrived.

A label may arrive days or weeks after its prediction, more than once (the last one wins), or for
a prediction we never accepted. Each stored label carries its prediction's date, which is what
tells the late-label sensor which past days of performance to recompute.

A label for a prediction not (yet) accepted is quarantined as `unknown_prediction_id`. When that
prediction is accepted later (its day ingested late, or fixed and run again), the next labels run
ingests that arrival day again, so the label is not left in quarantine for good; the same goes
for an accepted label whose prediction a re-run quarantined, dropped or moved to another day
(`label_recheck` says which arrival days, from the prediction days written since).

Every label stored here has `source = 'log'`. Labels a person gives in the review queue are
judged by the same rules (`label_rules`, `label_value`) but stored apart, in `review_labels`
(`perf_pipeline.review.returned`): they were chosen to find mistakes, so they must not enter
the realized metrics that read this table.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.config import ModelConfig, Task, canonical_class_text
from perf_pipeline.ingest.label_recheck import (
    UNKNOWN_PREDICTION_ID,
    days_to_recheck,
    forget,
    index_after_write,
    index_before_write,
    noted_prediction_days,
)
from perf_pipeline.ingest.landing import (
    DAY,
    FILE_INDEX,
    INTERNAL_PREFIX,
    ROW_NUMBER,
    SOURCE_FILE,
    load_days,
)
from perf_pipeline.ingest.predictions import DayResult
from perf_pipeline.ingest.rules import (
    BROKEN_ROW_RULES,
    MAX_LIST_CHARS,
    ORDER_IN_LANDING,
    REASON,
    blank,
    canonical_class,
    first_failing,
    not_item_list,
    not_one_of,
    quarantine_select,
    reasons_by_day,
    too_long_rules,
)
from perf_pipeline.lake import has_files, read_table_sql, write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import LABEL_SOURCE_LOG
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal
from perf_pipeline.tables.wanted_ids import ids_filter

REQUIRED = ["prediction_id", "label"]
KNOWN = [*REQUIRED, "label_timestamp"]
_KNOWN_ID = f"{INTERNAL_PREFIX}known_id"
_PREDICTION_DATE = f"{INTERNAL_PREFIX}prediction_date"
_LABEL_TS = f"{INTERNAL_PREFIX}label_ts"


def label_value(model: ModelConfig, column: str = "label") -> str:
    """The stored label from its text in `column`: a number for regression, else a class.

    Shared with the review queue's returned files (`reviewed_label`), so a person's label is
    typed exactly as a logged one.
    """
    if model.task is Task.REGRESSION:
        return f"TRY_CAST({q(column)} AS DOUBLE)"
    return canonical_class(q(column))


def label_rules(model: ModelConfig, column: str = "label") -> list[tuple[str, str]]:
    """What makes a label in `column` unusable, for each task (a null label is caught before).

    Also judges the review queue's `reviewed_label`, so both sources refuse the same values.
    """
    label = q(column)
    if model.task is Task.REGRESSION:
        return [
            (f"TRY_CAST({label} AS DOUBLE) IS NULL", "unparseable_label"),
            (f"NOT isfinite(TRY_CAST({label} AS DOUBLE))", "label_not_finite"),
        ]
    if model.task is Task.RANKING:
        return [
            *too_long_rules([column], MAX_LIST_CHARS),
            (not_item_list(label), "unparseable_label"),
        ]
    if model.task is Task.BINARY_CLASSIFICATION:
        classes = list(model.binary_classes)
    else:
        classes = [canonical_class_text(c) for c in model.classes]
    return [(not_one_of(label, classes), "unknown_label_class")]


def _rules(model: ModelConfig) -> list[tuple[str, str]]:
    return [
        *BROKEN_ROW_RULES,
        (blank(q("prediction_id")), "null_prediction_id"),
        *too_long_rules(["prediction_id"]),
        (blank(q("label")), "null_label"),
        (
            "NOT "
            + blank(q("label_timestamp"))
            + " AND TRY_CAST(label_timestamp AS TIMESTAMPTZ) IS NULL",
            "unparseable_label_timestamp",
        ),
        *label_rules(model),
        (f"{q(_KNOWN_ID)} IS NULL", UNKNOWN_PREDICTION_ID),
    ]


def _known_predictions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> None:
    """`known_predictions` (prediction_id, prediction_date) for the ids in `raw_labels` only.

    A semi-join on the run's label ids: the predictions history is read for its two columns,
    and only the ids the run needs are kept and grouped, however long that history is; the ids'
    range lets the Parquet statistics skip the days holding none of them (`wanted_ids`).
    """
    ids = "SELECT trim(prediction_id) AS prediction_id FROM raw_labels"
    wanted = ids_filter(con, ids, "_label_ids")
    if has_files(paths, "predictions", model.model_id) and wanted != "false":
        source = read_table_sql(paths, "predictions", model.model_id)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE known_predictions AS "
            f"SELECT prediction_id, min(date) AS prediction_date FROM {source} "
            f"WHERE {wanted} GROUP BY prediction_id"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE known_predictions "
            "(prediction_id VARCHAR, prediction_date DATE)"
        )


def _judge(con: duckdb.DuckDBPyConnection, model: ModelConfig) -> None:
    """`judged_labels` from `raw_labels`; within a day the latest label per prediction wins."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE judged_labels AS
        WITH first_pass AS (
            SELECT r.*, known.{q(_KNOWN_ID)}, known.{q(_PREDICTION_DATE)},
                   TRY_CAST(r.label_timestamp AS TIMESTAMPTZ) AS {q(_LABEL_TS)},
                   {first_failing(_rules(model))} AS {q(REASON)}
            FROM raw_labels AS r
            LEFT JOIN (
                SELECT prediction_id AS {q(_KNOWN_ID)}, prediction_date AS {q(_PREDICTION_DATE)}
                FROM known_predictions
            ) AS known
                ON known.{q(_KNOWN_ID)} = trim(r.prediction_id)
        )
        SELECT * REPLACE (
            CASE WHEN {q(REASON)} IS NULL AND row_number() OVER (
                PARTITION BY {q(DAY)}, trim(prediction_id), {q(REASON)} IS NULL
                ORDER BY {q(_LABEL_TS)} DESC NULLS LAST, {q(FILE_INDEX)} DESC,
                    {q(ROW_NUMBER)} DESC
            ) > 1 THEN 'superseded_by_later_label' ELSE {q(REASON)} END AS {q(REASON)}
        )
        FROM first_pass
        """
    )


def ingest_labels(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, DayResult]:
    """Ingest labels that arrived on `days`, and on the earlier arrival days whose labels the
    prediction days written since the last labels run changed (`label_recheck`): the result has
    them all, so the caller writes their ingest log and data-quality rows too."""
    noted, notes = noted_prediction_days(paths, model.model_id)
    days = sorted({*days, *days_to_recheck(con, paths, model.model_id, days, noted)})
    loads = load_days(
        con,
        lambda d: paths.landing_day("labels", model.model_id, d),
        days,
        REQUIRED,
        KNOWN,
        "raw_labels",
        landing_root=paths.landing,
    )
    _known_predictions(con, paths, model)
    _judge(con, model)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE accepted_labels AS
        SELECT {quote_literal(model.model_id)} AS model_id,
               {q(DAY)} AS date,
               trim(prediction_id) AS prediction_id,
               {label_value(model)} AS label,
               {q(_LABEL_TS)} AS label_timestamp,
               {q(DAY)} AS arrival_date,
               {q(_PREDICTION_DATE)} AS prediction_date,
               {q(SOURCE_FILE)} AS source_file,
               {quote_literal(LABEL_SOURCE_LOG)} AS source
        FROM judged_labels WHERE {q(REASON)} IS NULL ORDER BY {ORDER_IN_LANDING}
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE quarantined_labels AS SELECT "
        f"{quarantine_select(model.model_id, 'labels', KNOWN, q(DAY))} "
        f"FROM judged_labels WHERE {q(REASON)} IS NOT NULL ORDER BY {ORDER_IN_LANDING}"
    )
    index_before_write(con, paths, model.model_id)
    accepted = write_partitions(con, paths, "labels", model.model_id, "accepted_labels", days)
    quarantined = write_partitions(
        con, paths, "quarantine", model.model_id, "quarantined_labels", days, "labels.parquet"
    )
    index_after_write(con, paths, model.model_id, days)
    reasons = reasons_by_day(con, "quarantined_labels")
    forget(notes)
    return {d: DayResult(loads[d], accepted[d], quarantined[d], reasons.get(d, {})) for d in days}
