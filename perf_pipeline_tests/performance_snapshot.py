"""What the lake says of one model after a run: its `performance` view and its alerts.

Shared by the estimation scenarios, which compare estimates, realized values and alerts day by
day before and after the labels land.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths

ALL = "__all__"


@dataclass(frozen=True)
class Snapshot:
    """The model's `performance` view (with `status`) and its alerts, dates as `dt.date`."""

    performance: pd.DataFrame
    alerts: pd.DataFrame

    def overall(self, metric: str, *, estimated: bool) -> pd.DataFrame:
        rows = self.performance[
            (self.performance["segment_column"] == ALL)
            & (self.performance["metric"] == metric)
            & (self.performance["is_estimated"] == estimated)
        ]
        return rows.set_index("date").sort_index()

    def alerts_of(self, kind: str) -> pd.DataFrame:
        return self.alerts[self.alerts["kind"] == kind].set_index("date").sort_index()


def read_snapshot(paths: DataPaths, model_id: str) -> Snapshot:
    """The model's rows of the `performance` view and of the `alerts` table."""
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        performance = con.execute("SELECT * FROM performance WHERE model_id = ?", [model_id]).df()
    alerts = connect().execute(f"SELECT * FROM {read_table_sql(paths, 'alerts', model_id)}").df()
    for frame in (performance, alerts):
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return Snapshot(performance, alerts)
