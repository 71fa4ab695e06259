"""The report stage: one Evidently HTML file per usable day of a model, a short page per
blocked day.

A day with no usable current or reference data gets no report, and an old report of such a day
is removed, so the reports folder never shows a day its inputs no longer support. A blocked day
gets the page saying why (`blocked.py`), so no day's link is dead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths


@dataclass
class WrittenReports:
    """What the stage left at each day's report path."""

    reports: dict[dt.date, Path] = field(default_factory=dict)
    blocked: dict[dt.date, Path] = field(default_factory=dict)
    missing: list[dt.date] = field(default_factory=list)


def write_daily_reports(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> WrittenReports:
    """Reports of the usable `days` and pages for the blocked ones, in day order."""
    from perf_pipeline.reports.blocked import write_blocked_pages
    from perf_pipeline.reports.day_data import read_day
    from perf_pipeline.reports.evidently_report import write_report
    from perf_pipeline.stages.gate import usable_days

    usable, blocked = usable_days(con, paths, model, days)
    written = WrittenReports()
    ordered_blocked = sorted(blocked)
    written.blocked = dict(
        zip(ordered_blocked, write_blocked_pages(con, paths, model, ordered_blocked), strict=True)
    )
    for day in usable:
        target = paths.report_file(model.model_id, day)
        data = read_day(con, paths, model, day)
        if data is None:
            target.unlink(missing_ok=True)
            written.missing.append(day)
            continue
        written.reports[day] = write_report(model, day, data, target)
    return written
