"""The per-day tables `performance` and `drift`, on the days the gate let through."""

from __future__ import annotations

import datetime as dt
from types import ModuleType

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.stages.gate import usable_days


def _table_module(name: str) -> ModuleType:
    if name == "performance":
        from perf_pipeline.tables import performance

        return performance
    from perf_pipeline.tables import drift

    return drift


def write_table_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    table: str,
    days: list[dt.date],
) -> tuple[int, set[dt.date]]:
    """Compute and write `table` for the usable days; returns rows written and blocked days.

    Blocked days are left alone: the gate cleared them when it blocked them.
    """
    from perf_pipeline.views import refresh_views

    usable, blocked = usable_days(con, paths, model, days)
    module = _table_module(table)
    frame = module.compute_days(con, paths, model, usable)
    written = module.write_days(con, paths, model, usable, frame)
    refresh_views(paths)
    return sum(written.values()), blocked
