"""Predictions ingest: landing files of a range of days → accepted rows + quarantined rows.

Every row read ends in exactly one of the two tables (accepted + quarantined = read), and the
quarantined ones keep their raw record and the reason, so nothing is ever silently dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.ingest.landing import DAY, DayLoad, load_days
from perf_pipeline.ingest.readers import RAW_LINE
from perf_pipeline.ingest.rules import (
    ORDER_IN_LANDING,
    blank,
    canonical_class,
    first_failing,
    quarantine_select,
    reasons_by_day,
)
from perf_pipeline.lake import day_files, read_files_sql, write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal


@dataclass
class DayResult:
    load: DayLoad
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] | None = None

    @property
    def balanced(self) -> bool:
        return self.load.rows_read == self.accepted + self.quarantined


def score_columns(model: ModelConfig) -> list[str]:
    if model.task is Task.BINARY_CLASSIFICATION:
        return ["score"]
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        return [f"score_{c}" for c in model.classes]
    return []


def required_columns(model: ModelConfig) -> list[str]:
    return ["prediction_id", "timestamp", *model.input_columns, "prediction", *score_columns(model)]


def known_columns(model: ModelConfig) -> list[str]:
    return [*required_columns(model), "model_version"]


def _rules(model: ModelConfig) -> list[tuple[str, str]]:
    rules = [
        (f"{q(RAW_LINE)} IS NOT NULL", "malformed_json_line"),
        (blank("prediction_id"), "null_prediction_id"),
        (blank("timestamp"), "null_timestamp"),
        ("_ts IS NULL", "unparseable_timestamp"),
        (f"CAST(_ts AS DATE) <> {q(DAY)}", "timestamp_outside_partition"),
        (blank("prediction"), "null_prediction"),
    ]
    if model.task is Task.REGRESSION:
        rules.append(("TRY_CAST(prediction AS DOUBLE) IS NULL", "unparseable_prediction"))
        rules.append(("NOT isfinite(TRY_CAST(prediction AS DOUBLE))", "prediction_not_finite"))
    for col in score_columns(model):
        cast = f"TRY_CAST({q(col)} AS DOUBLE)"
        rules += [
            (blank(q(col)), f"null_score:{col}"),
            (f"{cast} IS NULL", f"unparseable_score:{col}"),
            (f"NOT isfinite({cast})", f"score_not_finite:{col}"),
            (
                f"{cast} < 0 OR {cast} > 1",
                "score_out_of_range" if col == "score" else f"score_out_of_range:{col}",
            ),
        ]
    for col in model.features.numerical:
        rules.append(
            (
                f"NOT {blank(q(col))} AND TRY_CAST({q(col)} AS DOUBLE) IS NULL",
                f"unparseable_value:{col}",
            )
        )
    return rules


def _typed_columns(model: ModelConfig) -> str:
    parts = [
        f"{quote_literal(model.model_id)} AS model_id",
        f"{q(DAY)} AS date",
        "trim(prediction_id) AS prediction_id",
        "_ts AS timestamp",
        "model_version",
    ]
    for col in model.features.numerical:
        # NaN in a feature means "missing", like null: data-quality checks count both as null.
        parts.append(
            f"CAST(nullif(TRY_CAST({q(col)} AS DOUBLE), 'NaN'::DOUBLE) AS DOUBLE) AS {q(col)}"
        )
    for col in model.input_columns:
        if col not in model.features.numerical:
            parts.append(f"nullif(trim({q(col)}), '') AS {q(col)}")
    if model.task is Task.REGRESSION:
        parts.append("TRY_CAST(prediction AS DOUBLE) AS prediction")
    else:
        parts.append(f"{canonical_class('prediction')} AS prediction")
    parts += [f"TRY_CAST({q(c)} AS DOUBLE) AS {q(c)}" for c in score_columns(model)]
    parts.append("__source_file AS source_file")
    return ",\n".join(parts)


def _earlier_ids(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, first: dt.date | None
) -> None:
    """Ids accepted on the days just before this range: a file delivered again the next day
    must not count its predictions twice. The window is bounded (`duplicate_window_days`) so a
    daily run never reads the whole history."""
    window = model.quality.duplicate_window_days
    earlier = [first - dt.timedelta(days=i) for i in range(1, window + 1)] if first else []
    files = day_files(paths, "predictions", model.model_id, earlier)
    source = (
        f"SELECT prediction_id FROM {read_files_sql(files)}"
        if files
        else ("SELECT CAST(NULL AS VARCHAR) AS prediction_id WHERE false")
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE earlier_ids AS {source}")


def ingest_predictions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, DayResult]:
    """Ingest `days` and write the `predictions` and `quarantine` partitions of each day.

    A day whose files cannot be used writes empty partitions: a re-run after the files are fixed
    replaces them, and a day that went bad never keeps stale rows from an earlier run.
    """
    known = known_columns(model)
    loads = load_days(
        con,
        lambda d: paths.landing_day("predictions", model.model_id, d),
        days,
        required_columns(model),
        known,
        "raw_predictions",
    )
    _earlier_ids(con, paths, model, min(days) if days else None)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE judged_predictions AS
        WITH typed AS (
            SELECT *, TRY_CAST(timestamp AS TIMESTAMPTZ) AS _ts FROM raw_predictions
        ), first_pass AS (
            SELECT *, {first_failing(_rules(model))} AS _reason FROM typed
        )
        SELECT * REPLACE (
            CASE WHEN _reason IS NULL AND (
                row_number() OVER (
                    PARTITION BY trim(prediction_id), _reason IS NULL ORDER BY {ORDER_IN_LANDING}
                ) > 1
                OR trim(prediction_id) IN (SELECT prediction_id FROM earlier_ids)
            ) THEN 'duplicate_prediction_id' ELSE _reason END AS _reason
        )
        FROM first_pass
        """
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE accepted_predictions AS SELECT {_typed_columns(model)} "
        f"FROM judged_predictions WHERE _reason IS NULL ORDER BY {ORDER_IN_LANDING}"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE quarantined_predictions AS SELECT "
        f"{quarantine_select(model.model_id, 'predictions', known, q(DAY))} "
        f"FROM judged_predictions WHERE _reason IS NOT NULL ORDER BY {ORDER_IN_LANDING}"
    )
    accepted = write_partitions(
        con, paths, "predictions", model.model_id, "accepted_predictions", days
    )
    quarantined = write_partitions(
        con,
        paths,
        "quarantine",
        model.model_id,
        "quarantined_predictions",
        days,
        "predictions.parquet",
    )
    reasons = reasons_by_day(con, "quarantined_predictions")
    return {d: DayResult(loads[d], accepted[d], quarantined[d], reasons.get(d, {})) for d in days}
