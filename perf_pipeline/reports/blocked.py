"""The page a blocked day gets at its report's path: why there is no report.

The gate clears a blocked day's report. A link to that day (from the dashboard, an alert, a
bookmark) would then lead nowhere, so the day gets a short page instead, naming the failed
expectations with what was observed, read back from the `data_quality` table.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.reports.header import STYLE

_FAILED_SQL = """
SELECT expectation, "column", severity, observed_value, unexpected_count
FROM {source} WHERE NOT success
ORDER BY severity = 'error' DESC, expectation
"""


def failed_expectations(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, day: dt.date
) -> list[tuple]:
    """(expectation, column, severity, observed_value, unexpected_count), errors first."""
    from perf_pipeline.lake import day_files, read_files_sql

    files = day_files(paths, "data_quality", model_id, [day])
    if not files:
        return []
    return con.execute(_FAILED_SQL.format(source=read_files_sql(files))).fetchall()


def _cell(value: object) -> str:
    return "" if value is None else escape(str(value))


def blocked_page(model: ModelConfig, day: dt.date, failed: list[tuple]) -> str:
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in failed
    )
    title = f"{model.model_id} · {day.isoformat()}: blocked at the data-quality gate"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='UTF-8'>"
        f"<title>{escape(title)}</title>{STYLE}</head><body><div class='pp-header'>"
        f"<h1>{escape(title)}</h1>"
        f"<p class='pp-note'>No report for this day: its data failed expectations of severity "
        "<b>error</b>, so its performance, drift and report were not computed (and any earlier "
        "ones were cleared). Fix the input in the landing zone and re-run the day.</p>"
        "<table><tr><th>expectation</th><th>column</th><th>severity</th>"
        f"<th>observed value</th><th>unexpected rows</th></tr>{rows}</table>"
        "<p>The same rows are in the <code>data_quality</code> table, and each expectation is "
        f"an asset check on <code>{escape(model.model_id)}/data_quality</code>.</p>"
        "</div></body></html>\n"
    )


def write_blocked_pages(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> list[Path]:
    """A blocked page at the report path of each of `days` (all blocked)."""
    from perf_pipeline.reports.evidently_report import write_html

    return [
        write_html(
            paths.report_file(model.model_id, day),
            blocked_page(model, day, failed_expectations(con, paths, model.model_id, day)),
        )
        for day in days
    ]


def blocked_reasons(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date]
) -> dict[dt.date, str]:
    """One line per blocked day: its failed error-severity expectations and what was seen."""
    reasons = {}
    for day in days:
        errors = [r for r in failed_expectations(con, paths, model_id, day) if r[2] == "error"]
        named = "; ".join(
            f"{name}" + (f" ({column})" if column else "") + f": observed {observed}"
            for name, column, _, observed, _ in errors
        )
        reasons[day] = f"{day.isoformat()} blocked at the data-quality gate: {named or 'error'}"
    return reasons
