"""Which days of a run did not get through, and why, read back from the lake.

A backfill's Dagster runs succeed even when some of their days were blocked at the data-quality
gate (the other days proceed), so the run status alone would tell an operator or a CI job that
everything is fine. This reads the gate's verdicts and the ingest log for the range instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perf_pipeline.lake import day_files, read_files_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.gate import GATE_FILE
from perf_pipeline.resources import PipelineStorage

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

Reasons = dict[dt.date, list[str]]


@dataclass(frozen=True)
class FailedDay:
    model_id: str
    day: dt.date
    reasons: tuple[str, ...]


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def failed_days(paths: DataPaths, model_id: str, days: list[dt.date]) -> list[FailedDay]:
    """Days blocked by an error-severity expectation, or whose files could not be read."""
    reasons: Reasons = {}
    with PipelineStorage(data_root=str(paths.root)).get_connection() as con:
        _gate_reasons(con, paths, model_id, days, reasons)
        _ingest_reasons(con, paths, model_id, days, reasons)
    return [FailedDay(model_id, d, tuple(r)) for d, r in sorted(reasons.items())]


def _gate_reasons(
    con: DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date], reasons: Reasons
) -> None:
    gate = day_files(paths, "data_quality", model_id, days, GATE_FILE)
    if gate:
        for day, expectation, observed in con.execute(
            f"SELECT date, expectation, observed_value FROM {read_files_sql(gate)} "
            "WHERE severity = 'error' AND NOT success ORDER BY date, expectation"
        ).fetchall():
            detail = f" ({observed})" if observed not in (None, "") else ""
            reasons.setdefault(day, []).append(f"{expectation}{detail}")


def _ingest_reasons(
    con: DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date], reasons: Reasons
) -> None:
    logs = day_files(paths, "ingest_log", model_id, days)
    if logs:
        for day, source, error in con.execute(
            f"SELECT date, source, error FROM {read_files_sql(logs)} "
            "WHERE error IS NOT NULL ORDER BY date, source"
        ).fetchall():
            reasons.setdefault(day, []).append(f"{source}: {error}")
