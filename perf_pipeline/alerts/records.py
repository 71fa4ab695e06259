"""Alert rows: stable ids, first-seen times that survive re-runs, atomic per-day files.

An alert's id is a hash of what it is about (model, day, kind, metric or column), so re-running a
day finds the same alert instead of raising a new one, and the notifier never repeats itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import duckdb

from perf_pipeline.lake import day_files, read_files_sql, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import ALERTS

# An alert's stored status unless its writer says otherwise (see `write_alerts`).
OPEN = "open"


def alert_id(model_id: str, day: dt.date, kind: str, subject: str) -> str:
    key = f"{model_id}|{day.isoformat()}|{kind}|{subject}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    model_id: str
    date: dt.date
    kind: str
    metric_or_column: str
    value: float | None
    baseline: float | None
    threshold: float | None
    severity: str
    message: str

    @property
    def alert_id(self) -> str:
        return alert_id(self.model_id, self.date, self.kind, self.metric_or_column)


def _first_seen(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date]
) -> dict[str, dt.datetime]:
    files = day_files(paths, "alerts", model_id, days)
    if not files:
        return {}
    rows = con.execute(
        f"SELECT alert_id, min(first_seen_at) FROM {read_files_sql(files)} GROUP BY alert_id"
    ).fetchall()
    return dict(rows)


def write_alerts(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    days: list[dt.date],
    alerts: list[Alert],
    writer: str,
    statuses: Mapping[str, str] | None = None,
    root_causes: Mapping[str, str | None] | None = None,
) -> dict[dt.date, int]:
    """Replace this writer's alert file of each day; an alert keeps its first-seen time.

    `statuses` gives an alert's stored `status` by id where it is not `open` (an estimated
    alert's verdict, `confirmed` / `not_confirmed`). The lifecycle (acknowledged, snoozed,
    resolved) is not stored here: it belongs to the alert's incident, and the `alerts` view
    reads it from there, so a re-run of a day never undoes what a person decided.
    `root_causes` gives a performance alert's `root_cause` (JSON text) by id.
    """
    import pandas as pd

    seen = _first_seen(con, paths, model_id, days)
    now = dt.datetime.now(dt.UTC)
    frame = pd.DataFrame(
        [
            {
                **asdict(a),
                "alert_id": a.alert_id,
                "status": (statuses or {}).get(a.alert_id, OPEN),
                "first_seen_at": seen.get(a.alert_id, now),
                "root_cause": (root_causes or {}).get(a.alert_id),
            }
            for a in alerts
        ],
        columns=list(ALERTS),
    )
    return write_frame_partitions(
        con,
        paths,
        "alerts",
        model_id,
        frame.sort_values(["date", "kind", "metric_or_column"]),
        ALERTS,
        days,
        f"{writer}.parquet",
    )
