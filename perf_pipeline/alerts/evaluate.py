"""The regression stage: each day's performance and drift held to the model's thresholds.

The rules themselves live in `perf_pipeline.alerts.regressions`; this module reads a run's days
from the lake, applies them day by day, and writes the day's `regressions` alert file (an empty
one for a day without alerts, so a re-run clears what an earlier run raised).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.stages.gate import REGRESSIONS_WRITER

if TYPE_CHECKING:
    import pandas as pd

    from perf_pipeline.alerts.records import Alert


def _read_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, table: str, model_id: str, days
) -> pd.DataFrame | None:
    import pandas as pd

    from perf_pipeline.lake import day_files, read_files_sql

    files = day_files(paths, table, model_id, days)
    if not files:
        return None
    frame = con.execute(f"SELECT * FROM {read_files_sql(files)}").df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def regressions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> list[Alert]:
    """The performance and drift alerts of `days`, from what the lake holds for them now."""
    from perf_pipeline.alerts.regressions import drift_alerts, performance_alerts
    from perf_pipeline.tables.performance import baseline_values

    performance = _read_days(con, paths, "performance", model.model_id, days)
    drift = _read_days(con, paths, "drift", model.model_id, days)
    raised: list[Alert] = []
    for day in days:
        if performance is not None:
            baseline = baseline_values(con, paths, model, day)
            todays = performance[performance["date"] == day]
            raised += performance_alerts(model, day, todays, baseline)
        if drift is not None:
            raised += drift_alerts(model, day, drift[drift["date"] == day])
    return raised


def evaluate_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> list[Alert]:
    """Raise and write the regression alerts of the usable `days`; returns them."""
    from perf_pipeline.alerts.records import write_alerts
    from perf_pipeline.stages.gate import usable_days
    from perf_pipeline.views import refresh_views

    usable, _ = usable_days(con, paths, model, days)
    raised = regressions(con, paths, model, usable)
    write_alerts(con, paths, model.model_id, usable, raised, REGRESSIONS_WRITER)
    refresh_views(paths)
    return raised
