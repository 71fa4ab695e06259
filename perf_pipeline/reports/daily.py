"""The report stage: one Evidently HTML file per usable day of a model, a short page per
blocked day.

A day with no usable current or reference data gets no report, and an old report of such a day
is removed, so the reports folder never shows a day its inputs no longer support. A blocked day
gets the page saying why (`blocked.py`), so no day's link is dead.

Only what changed is drawn again: each report carries the digest of the sampled data it was
drawn from (`DaySides.digest`, `DayData.digest`), and a day whose data has the same digest
keeps its report. The rest are drawn on every core (`render_pool.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.reports.day_data import DayData
from perf_pipeline.reports.render_pool import DRIFT, QUALITY, SectionJob

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


@dataclass(frozen=True)
class _Page:
    """A report whose dashboards are being drawn."""

    data: DayData
    target: Path
    digest: str


def _section_jobs(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    written: WrittenReports,
    pages: dict[dt.date, _Page],
) -> Iterator[SectionJob]:
    """The dashboards to draw, day by day; the days whose report is current are recorded in
    `written` as read, the others in `pages`.

    A page's digest is two parts, its drift dashboard's inputs and all its inputs: when the
    first part changed, the drift dashboard is handed out before the day's labels are read."""
    from perf_pipeline.reports.day_data import RunReader
    from perf_pipeline.reports.standalone import stored_inputs_digest

    reader = RunReader(con, paths, model, days)
    version = _report_version()
    for day in days:
        target = paths.report_file(model.model_id, day)
        sides = reader.read_sides(day)
        if sides is None:
            target.unlink(missing_ok=True)
            written.missing.append(day)
            continue
        stored = stored_inputs_digest(target) or ""
        drift_digest = sides.digest(model, version)
        drift_changed = stored.partition(".")[0] != drift_digest
        if drift_changed:
            yield DRIFT, model, day, sides
        data = reader.complete(day, sides)
        digest = f"{drift_digest}.{data.digest(model, version)}"
        if stored == digest:
            written.reports[day] = target
            written.kept.append(day)
            continue
        if not drift_changed:
            yield DRIFT, model, day, sides
        pages[day] = _Page(data, target, digest)
        yield QUALITY, model, day, data


def write_daily_reports(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> WrittenReports:
    """Reports of the usable `days` and pages for the blocked ones, in day order."""
    from perf_pipeline.reports.blocked import write_blocked_pages
    from perf_pipeline.reports.evidently_report import assemble_report
    from perf_pipeline.reports.render_pool import draw_all, warm_up
    from perf_pipeline.stages.gate import usable_days

    usable, blocked = usable_days(con, paths, model, days)
    warm_up(len(usable))
    written = WrittenReports()
    ordered_blocked = sorted(blocked)
    written.blocked = dict(
        zip(ordered_blocked, write_blocked_pages(con, paths, model, ordered_blocked), strict=True)
    )
    pages: dict[dt.date, _Page] = {}
    drawn = draw_all(_section_jobs(con, paths, model, usable, written, pages))
    # Each day's jobs are its drift dashboard, then its quality dashboard.
    for day, drift in drawn:
        _, quality = next(drawn)
        page = pages.pop(day)
        written.reports[day] = assemble_report(
            model, day, page.data, drift, quality, page.target, page.digest
        )
    written.reports = dict(sorted(written.reports.items()))
    return written
