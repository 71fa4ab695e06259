"""SQL pieces shared by the predictions and labels ingest: typing text and judging rows."""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.ingest.landing import DAY, FILE_INDEX
from perf_pipeline.ingest.readers import RAW_LINE, ROW_NUMBER, SOURCE_FILE
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal


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


def first_failing(rules: list[tuple[str, str]]) -> str:
    """A CASE giving the reason of the first rule whose condition holds, NULL when none does."""
    whens = " ".join(f"WHEN {cond} THEN {quote_literal(reason)}" for cond, reason in rules)
    return f"CASE {whens} ELSE NULL END"


def record_json(columns: list[str]) -> str:
    """The raw row as JSON text, exactly as read (a broken JSON line stays its raw text)."""
    pairs = ", ".join(f"{quote_literal(c)}, {q(c)}" for c in columns)
    obj = f"json_object({pairs})" if columns else "json_object()"
    return (
        f"CASE WHEN {q(RAW_LINE)} IS NOT NULL "
        f"THEN json_object('raw_line', {q(RAW_LINE)}) ELSE {obj} END"
    )


def quarantine_select(model_id: str, source: str, columns: list[str], date_expr: str) -> str:
    """Columns of the `quarantine` table for rows whose `_reason` is set."""
    return f"""
        {quote_literal(model_id)} AS model_id,
        {date_expr} AS date,
        {quote_literal(source)} AS source,
        {q(SOURCE_FILE)} AS source_file,
        {q(ROW_NUMBER)} AS row_number,
        _reason AS reason,
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
