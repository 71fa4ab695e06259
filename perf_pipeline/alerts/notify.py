"""Notifications: every alert once, to the Dagster event log and to `alerts/alerts.jsonl`.

The JSON Lines file is the default channel because it needs nothing outside the machine and any
tool can tail it; an alert already in it is never written again, so re-runs and sensor restarts
stay quiet.
"""

import datetime as dt
import json
import math
from pathlib import Path

import dagster as dg
import pandas as pd

from perf_pipeline.lake import connect, has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.sql import quote_literal


def notified_ids(log: Path) -> set[str]:
    if not log.exists():
        return set()
    ids = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "alert_id" in record:
            ids.add(record["alert_id"])
    return ids


def _jsonable(value: object) -> object:
    """Strict JSON values: missing numbers become null, days and times ISO 8601 text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return (
            value.date().isoformat()
            if value == value.normalize() and value.tz is None
            else value.isoformat()
        )
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def append_records(log: Path, records: list[dict]) -> None:
    if not records:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        for record in records:
            clean = {k: _jsonable(v) for k, v in record.items()}
            handle.write(json.dumps(clean, sort_keys=True, allow_nan=False) + "\n")


def load_alerts(paths: DataPaths, alert_ids: list[str]) -> list[dict]:
    if not alert_ids or not has_files(paths, "alerts"):
        return []
    con = connect()
    wanted = ", ".join(quote_literal(a) for a in alert_ids)
    frame = con.execute(
        f"SELECT * FROM {read_table_sql(paths, 'alerts')} WHERE alert_id IN ({wanted}) "
        "ORDER BY date, model_id, kind, metric_or_column"
    ).df()
    return frame.to_dict(orient="records")


class NotifyConfig(dg.Config):
    alert_ids: list[str]


@dg.op(description="Send each new alert once: Dagster event log and alerts/alerts.jsonl.")
def send_alerts(
    context: dg.OpExecutionContext, config: NotifyConfig, storage: PipelineStorage
) -> int:
    paths = storage.paths
    already = notified_ids(paths.alerts_log)
    fresh = [a for a in load_alerts(paths, config.alert_ids) if a["alert_id"] not in already]
    now = dt.datetime.now(dt.UTC).isoformat()
    for alert in fresh:
        context.log.warning(f"ALERT [{alert['kind']}] {alert['message']}")
    append_records(paths.alerts_log, [{**a, "notified_at": now} for a in fresh])
    context.add_output_metadata(
        {"sent": len(fresh), "log": dg.MetadataValue.path(str(paths.alerts_log))}
    )
    return len(fresh)


@dg.job(description="Notify new regressions and data-quality failures (run by the alerts sensor).")
def notify_alerts() -> None:
    send_alerts()
