"""SQL pieces shared by the predictions and labels ingest: typing text and judging rows."""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.ingest.landing import (
    BROKEN,
    DAY,
    FILE_INDEX,
    INTERNAL_PREFIX,
    RAW_LINE,
    ROW_NUMBER,
    SOURCE_FILE,
)
from perf_pipeline.ingest.readers import MALFORMED_CSV_ROW, MALFORMED_JSON_LINE
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

# A longer id, feature or segment value is not data but an accident (a whole document pasted in
# a cell): one such value once cost gigabytes of memory in drift and reports. Its row is
# quarantined (`value_too_long:<column>`), and no value longer than this is kept in full in a
# quarantined record either (see `record_json`).
MAX_VALUE_CHARS = 10_000
# A ranking model's list of shown item ids is legitimately longer than one value.
MAX_LIST_CHARS = 1_000_000

# Columns the judging SQL adds beside the file's: namespaced like the landing bookkeeping, so a
# configured feature called `_reason` or `known_id` cannot clash with them.
REASON = f"{INTERNAL_PREFIX}reason"
TS = f"{INTERNAL_PREFIX}ts"

BROKEN_ROW_RULES = [
    (f"{q(BROKEN)} = {quote_literal(reason)}", reason)
    for reason in (MALFORMED_JSON_LINE, MALFORMED_CSV_ROW)
]


def canonical_class(expr: str) -> str:
    """Class labels as text, with numbers written one way: 1, 1.0 and '1' are the same class."""
    number = f"TRY_CAST({expr} AS DOUBLE)"
    return (
        f"CASE WHEN {number} IS NOT NULL AND isfinite({number}) AND {number} = round({number}) "
        f"AND abs({number}) < 1e15 "
        f"THEN CAST(CAST({number} AS BIGINT) AS VARCHAR) ELSE trim({expr}) END"
    )


def blank(expr: str) -> str:
    return f"({expr} IS NULL OR trim({expr}) = '')"


def not_one_of(expr: str, classes: list[str]) -> str:
    """A present value whose canonical class is none of `classes`."""
    allowed = ", ".join(quote_literal(c) for c in classes)
    return f"NOT {blank(expr)} AND {canonical_class(expr)} NOT IN ({allowed})"


def not_item_list(expr: str) -> str:
    """True unless the text is a JSON array of scalars (item ids), the shape the ranking metrics
    read with `from_json(..., '["VARCHAR"]')`: `a,b,c`, `5`, `[[1]]` or `[null]` are not lists.

    Nested CASEs, not AND: DuckDB does not short-circuit, and `json_type` fails on invalid JSON.
    """
    element_types = f"json_type({expr}, '$[*]')"
    scalars = (
        f"coalesce(list_bool_and(list_transform({element_types}, "
        "lambda t: t NOT IN ('ARRAY', 'OBJECT', 'NULL'))), true)"
    )
    return (
        f"NOT CASE WHEN json_valid({expr}) THEN "
        f"CASE WHEN json_type({expr}) = 'ARRAY' THEN {scalars} ELSE false END ELSE false END"
    )


def too_long_rules(columns: list[str], limit: int = MAX_VALUE_CHARS) -> list[tuple[str, str]]:
    return [(f"length({q(c)}) > {limit}", f"value_too_long:{c}") for c in columns]


def first_failing(rules: list[tuple[str, str]]) -> str:
    """A CASE giving the reason of the first rule whose condition holds, NULL when none does."""
    whens = " ".join(f"WHEN {cond} THEN {quote_literal(reason)}" for cond, reason in rules)
    return f"CASE {whens} ELSE NULL END"


def _json_value(expr: str) -> str:
    """A text value as JSON, cut to `MAX_VALUE_CHARS` with its length when it is longer."""
    return (
        f"CASE WHEN length({expr}) > {MAX_VALUE_CHARS} THEN json_object("
        f"'truncated', left({expr}, {MAX_VALUE_CHARS}), 'original_length', length({expr})) "
        f"ELSE to_json({expr}) END"
    )


def record_json(columns: list[str]) -> str:
    """The raw row as JSON text, as read, under the file's own column names.

    A broken row (a JSON line that is not an object, a CSV row with too many or too few fields)
    is `{"raw_line": <its text>}`. A value longer than `MAX_VALUE_CHARS` is kept as
    `{"truncated": <its first MAX_VALUE_CHARS characters>, "original_length": <length>}`, so a
    quarantined row stays small whatever it held.
    """
    pairs = ", ".join(f"{quote_literal(c)}, {_json_value(q(c))}" for c in columns)
    obj = f"json_object({pairs})" if columns else "json_object()"
    return (
        f"CASE WHEN {q(RAW_LINE)} IS NOT NULL "
        f"THEN json_object('raw_line', {_json_value(q(RAW_LINE))}) ELSE {obj} END"
    )


def quarantine_select(model_id: str, source: str, columns: list[str], date_expr: str) -> str:
    """Columns of the `quarantine` table for rows whose reason is set."""
    return f"""
        {quote_literal(model_id)} AS model_id,
        {date_expr} AS date,
        {quote_literal(source)} AS source,
        {q(SOURCE_FILE)} AS source_file,
        {q(ROW_NUMBER)} AS row_number,
        {q(REASON)} AS reason,
        CAST({record_json(columns)} AS VARCHAR) AS record
    """


ORDER_IN_LANDING = f"{q(DAY)}, {q(FILE_INDEX)}, {q(ROW_NUMBER)}"


def reasons_by_day(
    con: duckdb.DuckDBPyConnection, quarantined: str
) -> dict[dt.date, dict[str, int]]:
    """Quarantine counts per day and reason, for the asset metadata and the ingest log."""
    reasons: dict[dt.date, dict[str, int]] = {}
    for day, reason, count in con.execute(
        f"SELECT date, reason, count(*) FROM {quarantined} GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        reasons.setdefault(day, {})[reason] = count
    return reasons
