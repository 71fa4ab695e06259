"""The report stage: one Evidently HTML file per usable day of a model, a short page per
blocked day.

A day with no usable current or reference data gets no report, and an old report of such a day
is removed, so the reports folder never shows a day its inputs no longer support. A blocked day
gets the page saying why (`blocked.py`), so no day's link is dead.

Only what changed is drawn again: each report carries the digest of the sampled data it was
drawn from (`DayData.digest`), and a day whose data has the same digest keeps its report. The
rest are drawn on every core (`render_pool.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.reports.render_pool import RenderJob

# Raise when a report drawn from the same data would now look different (its sections, the
# header, the page's layout): every report is drawn again on its next run.
REPORT_VERSION = "2"


@dataclass
class WrittenReports:
    """What the stage left at each day's report path (`kept`: reports already current)."""

    reports: dict[dt.date, Path] = field(default_factory=dict)
    blocked: dict[dt.date, Path] = field(default_factory=dict)
    missing: list[dt.date] = field(default_factory=list)
    kept: list[dt.date] = field(default_factory=list)


def _report_version() -> str:
    from importlib.metadata import version

    return f"report={REPORT_VERSION};evidently={version('evidently')}"


def _jobs(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    written: WrittenReports,
) -> Iterator[RenderJob]:
    """The days whose report must be drawn; the others are recorded in `written` as read."""
    from perf_pipeline.reports.day_data import RunReader
    from perf_pipeline.reports.standalone import stored_inputs_digest

    reader = RunReader(con, paths, model, days)
    version = _report_version()
    for day in days:
        target = paths.report_file(model.model_id, day)
        data = reader.read_day(day)
        if data is None:
            target.unlink(missing_ok=True)
            written.missing.append(day)
            continue
        digest = data.digest(model, version)
        if stored_inputs_digest(target) == digest:
            written.reports[day] = target
            written.kept.append(day)
            continue
        yield model, day, data, target, digest


def write_daily_reports(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> WrittenReports:
    """Reports of the usable `days` and pages for the blocked ones, in day order."""
    from perf_pipeline.reports.blocked import write_blocked_pages
    from perf_pipeline.reports.render_pool import render_all, warm_up
    from perf_pipeline.stages.gate import usable_days

    usable, blocked = usable_days(con, paths, model, days)
    warm_up(len(usable))
    written = WrittenReports()
    ordered_blocked = sorted(blocked)
    written.blocked = dict(
        zip(ordered_blocked, write_blocked_pages(con, paths, model, ordered_blocked), strict=True)
    )
    for day, path in render_all(_jobs(con, paths, model, usable, written)):
        written.reports[day] = path
    written.reports = dict(sorted(written.reports.items()))
    return written
