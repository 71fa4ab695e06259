"""Predictions ingest: landing files of a range of days → accepted rows + quarantined rows.

Every row read ends in exactly one of the two tables (accepted + quarantined = read), and the
quarantined ones keep their raw record and the reason, so nothing is ever silently dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from perf_pipeline.config import ModelConfig, Task, canonical_class_text
from perf_pipeline.ingest.duplicates import load_neighbour_ids, mark_duplicates, neighbour_days
from perf_pipeline.ingest.label_recheck import note_prediction_days
from perf_pipeline.ingest.landing import (
    DAY,
    FILE_INDEX,
    INTERNAL_PREFIX,
    ORDINAL,
    ROW_NUMBER,
    SOURCE_FILE,
    DayLoad,
    gather_days,
)
from perf_pipeline.ingest.readers import NUMBER, TIMESTAMP, to_text
from perf_pipeline.ingest.rules import (
    BROKEN_ROW_RULES,
    MAX_LIST_CHARS,
    REASON,
    TS,
    blank,
    canonical_class,
    first_failing,
    not_item_list,
    not_one_of,
    quarantine_select,
    reasons_by_day,
    too_long_rules,
)
from perf_pipeline.lake import write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

# The accepted-row mask beside a day's columns (`_register_accepted_rows`).
_KEEP = f"{INTERNAL_PREFIX}keep"


@dataclass
class DayResult:
    load: DayLoad
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] | None = None

    @property
    def balanced(self) -> bool:
        return self.load.rows_read == self.accepted + self.quarantined


def required_columns(model: ModelConfig) -> list[str]:
    """Columns every file must have. A binary classifier's `prediction` is optional: without it
    the predicted class is `score >= decision_threshold`."""
    prediction = [] if model.task is Task.BINARY_CLASSIFICATION else ["prediction"]
    return ["prediction_id", "timestamp", *model.input_columns, *prediction, *model.score_columns]


def known_columns(model: ModelConfig) -> list[str]:
    columns = required_columns(model)
    if "prediction" not in columns:
        columns.append("prediction")
    return [*columns, "model_version"]


def typed_kinds(model: ModelConfig) -> dict[str, str]:
    """Columns a Parquet file may hand over typed: numbers and the timestamp, whose text the
    rules would only parse back (1M rows of floats cost seconds as text, twice)."""
    kinds = dict.fromkeys([*model.features.numerical, *model.score_columns], NUMBER)
    return {**kinds, "timestamp": TIMESTAMP}


def _blank(col: str, typed: set[str]) -> str:
    """`blank` of a column; a typed value is never blank text, only absent."""
    return f"({q(col)} IS NULL)" if col in typed else blank(q(col))


def _prediction_rules(model: ModelConfig) -> list[tuple[str, str]]:
    """What makes a logged prediction unusable, for each task."""
    prediction = q("prediction")
    if model.task is Task.BINARY_CLASSIFICATION:
        return [(not_one_of(prediction, list(model.binary_classes)), "unknown_prediction_class")]
    rules = [(blank(prediction), "null_prediction")]
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        classes = [canonical_class_text(c) for c in model.classes]
        rules.append((not_one_of(prediction, classes), "unknown_prediction_class"))
    elif model.task is Task.REGRESSION:
        rules.append((f"TRY_CAST({prediction} AS DOUBLE) IS NULL", "unparseable_prediction"))
        rules.append((f"NOT isfinite(TRY_CAST({prediction} AS DOUBLE))", "prediction_not_finite"))
    else:
        rules += too_long_rules(["prediction"], MAX_LIST_CHARS)
        rules.append((not_item_list(prediction), "unparseable_prediction"))
    return rules


def _rules(model: ModelConfig, typed: set[str]) -> list[tuple[str, str]]:
    """Each rule and its reason, first match wins. A typed column (see `typed_kinds`) is a
    well-formed number or timestamp by construction, so rules about its text do not apply."""
    texts = [c for c in ["prediction_id", "model_version", *model.input_columns] if c not in typed]
    rules = [
        *BROKEN_ROW_RULES,
        (blank(q("prediction_id")), "null_prediction_id"),
        *too_long_rules(texts),
        (_blank("timestamp", typed), "null_timestamp"),
        (f"{q(TS)} IS NULL", "unparseable_timestamp"),
        (f"CAST({q(TS)} AS DATE) <> {q(DAY)}", "timestamp_outside_partition"),
        *_prediction_rules(model),
    ]
    for col in model.score_columns:
        cast = f"TRY_CAST({q(col)} AS DOUBLE)"
        rules += [
            (_blank(col, typed), f"null_score:{col}"),
            (f"{cast} IS NULL", f"unparseable_score:{col}"),
            (f"NOT isfinite({cast})", f"score_not_finite:{col}"),
            (
                f"{cast} < 0 OR {cast} > 1",
                "score_out_of_range" if col == "score" else f"score_out_of_range:{col}",
            ),
        ]
    for col in model.features.numerical:
        if col not in typed:
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
        f"{q(TS)} AS timestamp",
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
        # A blank binary prediction is stored as NULL: the metrics then use the threshold.
        parts.append(
            f"CASE WHEN {blank('prediction')} THEN NULL ELSE "
            f"{canonical_class('prediction')} END AS prediction"
        )
    parts += [f"TRY_CAST({q(c)} AS DOUBLE) AS {q(c)}" for c in model.score_columns]
    parts.append(f"{q(SOURCE_FILE)} AS source_file")
    return ",\n".join(parts)


def _judge(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> tuple[dict[dt.date, DayLoad], list[dt.date], pa.Table]:
    """`raw_predictions` (the days as read) and `judged_predictions` (each row's ordinal and
    reason, null when accepted) for `days`; returns the loads, the stale neighbour days and
    the table read.

    Only the few columns the duplicate check needs are copied beside the verdict: the day's
    columns stay in the one table read, which the writers then scan once.
    """
    loads, table = gather_days(
        lambda d: paths.landing_day("predictions", model.model_id, d),
        days,
        (required_columns(model), known_columns(model)),
        landing_root=paths.landing,
        keep_typed=typed_kinds(model),
    )
    con.register("raw_predictions", table)
    typed = {f.name for f in table.schema if f.name in known_columns(model)}
    typed = {c for c in typed if not pa.types.is_string(table.schema.field(c).type)}
    window = model.quality.duplicate_window_days
    neighbours = load_neighbour_ids(con, paths, model.model_id, neighbour_days(days, window))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE first_pass_predictions AS
        WITH typed AS (
            SELECT *, TRY_CAST(timestamp AS TIMESTAMPTZ) AS {q(TS)} FROM raw_predictions
        )
        SELECT {q(ORDINAL)}, prediction_id, {q(DAY)}, {q(FILE_INDEX)}, {q(ROW_NUMBER)},
               {first_failing(_rules(model, typed))} AS {q(REASON)}
        FROM typed
        """
    )
    stale = mark_duplicates(
        con, "first_pass_predictions", neighbours, window, min(days), "judged_predictions"
    )
    return loads, stale, table


def ingest_predictions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, DayResult]:
    """Ingest `days` and write the `predictions` and `quarantine` partitions of each day.

    A day whose files cannot be used writes empty partitions: a re-run after the files are fixed
    replaces them, and a day that went bad never keeps stale rows from an earlier run. The
    result may hold more days than asked: days ingested before whose duplicates this run changes
    are ingested again with it (see `duplicates`). The days written are noted for the next
    labels run, which re-checks the labels they affect.
    """
    days = sorted(set(days))
    if not days:
        return {}
    loads, stale, raw = _judge(con, paths, model, days)
    while stale:
        days = sorted({*days, *stale})
        loads, stale, raw = _judge(con, paths, model, days)
    # Noted for the labels (see `label_recheck`) before writing, so a crash mid-write still
    # leaves the days noted, and after, so a labels run that read the first note while the days
    # were being written sees them again.
    note_prediction_days(paths, model.model_id, days)
    accepted, quarantined = _write(con, paths, model, days, raw)
    note_prediction_days(paths, model.model_id, days)
    reasons = reasons_by_day(con, "quarantined_predictions")
    return {d: DayResult(loads[d], accepted[d], quarantined[d], reasons.get(d, {})) for d in days}


def _write(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    raw: pa.Table,
) -> tuple[dict[dt.date, int], dict[dt.date, int]]:
    """Write the accepted and quarantined partitions of `days` from `raw_predictions` (`raw`,
    the days as read) and the verdicts in `judged_predictions`."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected_rows AS "
        f"SELECT {q(ORDINAL)}, {q(REASON)} FROM judged_predictions WHERE {q(REASON)} IS NOT NULL"
    )
    rejected = con.execute(f"SELECT {q(ORDINAL)} FROM rejected_rows ORDER BY 1").fetchnumpy()
    rejected_ordinals = rejected[ORDINAL]
    _register_accepted_rows(con, raw, rejected_ordinals)
    # A projection of the rows in landing order keeps that order (DuckDB's default
    # `preserve_insertion_order`): no join and no sort of the day's wide rows.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE accepted_predictions AS SELECT {_typed_columns(model)} "
        f"FROM (SELECT *, TRY_CAST(timestamp AS TIMESTAMPTZ) AS {q(TS)} FROM accepted_raw)"
    )
    _register_rejected_text(con, raw, rejected_ordinals, known_columns(model))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE quarantined_predictions AS SELECT "
        f"{quarantine_select(model.model_id, 'predictions', known_columns(model), q(DAY))} "
        f"FROM rejected_text JOIN rejected_rows USING ({q(ORDINAL)}) ORDER BY {q(ORDINAL)}"
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
    return accepted, quarantined


def _register_accepted_rows(
    con: duckdb.DuckDBPyConnection, raw: pa.Table, rejected_ordinals: np.ndarray
) -> None:
    """`accepted_raw`: the rows of `raw` not rejected, in landing order. A row's ordinal is its
    position in `raw` (`gather_days`), so the verdict is a mask by position, added beside the
    columns without copying them and applied by DuckDB's (order-keeping) filter."""
    keep = np.ones(raw.num_rows, dtype=bool)
    keep[rejected_ordinals] = False
    con.register("masked_raw", raw.append_column(_KEEP, pa.array(keep)))
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW accepted_raw AS "
        f"SELECT * EXCLUDE ({q(_KEEP)}) FROM masked_raw WHERE {q(_KEEP)}"
    )


def _register_rejected_text(
    con: duckdb.DuckDBPyConnection,
    raw: pa.Table,
    rejected_ordinals: np.ndarray,
    known: list[str],
) -> None:
    """`rejected_text`: the rejected rows as read, every column as text, so a quarantined
    record is the same whether its file's numbers were kept typed or not. Rejected rows are
    few, so only they are turned back into text."""
    rows = raw.take(pa.array(rejected_ordinals, pa.int64()))
    texted = {c: to_text(rows[c]) if c in known else rows[c] for c in rows.column_names}
    con.register("rejected_text", pa.table(texted))
