"""The report stage: one Evidently HTML file per usable day of a model.

A day with no usable current or reference data gets no report, and an old report of such a day
is removed, so the reports folder never shows a day its inputs no longer support.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths


def write_daily_reports(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> list[Path]:
    """Reports of the usable `days`, in day order; blocked days were cleared by the gate."""
    from perf_pipeline.lake import day_files, read_files_sql
    from perf_pipeline.reports.evidently_report import write_report
    from perf_pipeline.stages.gate import usable_days
    from perf_pipeline.tables.reference import reference_frame

    usable, _ = usable_days(con, paths, model, days)
    fixed = reference_frame(con, paths, model) if model.reference.source == "file" else None
    written: list[Path] = []
    for day in usable:
        target = paths.report_file(model.model_id, day)
        files = day_files(paths, "predictions", model.model_id, [day])
        current = con.execute(f"SELECT * FROM {read_files_sql(files)}").df() if files else None
        reference = fixed if fixed is not None else reference_frame(con, paths, model, day)
        if current is None or current.empty or reference is None or reference.empty:
            target.unlink(missing_ok=True)
            continue
        written.append(write_report(model, day, current, reference, paths.reports, target))
    return written
