"""Notifications: every alert once to every channel, from the Dagster job the sensor launches.

The channels are the always-on log (`alerts/alerts.jsonl` and the Dagster event log) and the
models file's `notifications:` entries; `perf_pipeline.alerts.delivery` makes delivery exactly
once per alert and channel, even when two notifier runs overlap, and follows the alerts'
incidents: an incident is paged once, what people acknowledged or snoozed is held back, and a
backfill's alerts (`digests` in the job's config: alert id -> the run that raised it) go out as
one digest per model and run.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from perf_pipeline.alerts.channels import append_json_lines, jsonable
from perf_pipeline.alerts.delivery import deliver
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.sql import quote_literal


def append_records(log: Path, records: list[dict[str, Any]]) -> None:
    """Append records to a JSON Lines file (the run-failure sensor writes beside the alerts)."""
    append_json_lines(log, records)


def load_alerts(paths: DataPaths, alert_ids: list[str]) -> list[dict[str, Any]]:
    """Rows of the `alerts` table with these ids, as JSON-able dicts in a stable order."""
    if not alert_ids or not has_files(paths, "alerts"):
        return []
    wanted = ", ".join(quote_literal(a) for a in alert_ids)
    with PipelineStorage(data_root=str(paths.root)).get_connection() as con:
        frame = con.execute(
            f"SELECT DISTINCT ON (alert_id) * FROM {read_table_sql(paths, 'alerts')} "
            f"WHERE alert_id IN ({wanted}) ORDER BY alert_id"
        ).df()
    rows = [{k: jsonable(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    return sorted(rows, key=lambda r: (r["date"], r["model_id"], r["kind"], r["metric_or_column"]))


class NotifyConfig(dg.Config):
    alert_ids: list[str]
    # Alerts of a backfill, by id, with the run that raised them: sent as one digest per model
    # and run. Any other alert of `alert_ids` is sent on its own.
    digests: dict[str, str] = {}


@dg.op(description="Send each new alert once to every channel: log, alerts.jsonl, models file.")
def send_alerts(
    context: dg.OpExecutionContext, config: NotifyConfig, storage: PipelineStorage
) -> int:
    paths = storage.paths
    alerts = load_alerts(paths, config.alert_ids)
    report = deliver(paths, alerts, digests=config.digests)
    sent = report.sent_ids
    for alert in alerts:
        if alert["alert_id"] in sent:
            context.log.warning(f"ALERT [{alert['kind']}] {alert['message']}")
    held = {a for ids in report.suppressed.values() for a in ids}
    context.add_output_metadata(
        {
            "sent": len(sent),
            **{f"sent_to_{name}": len(ids) for name, ids in report.sent.items()},
            "digests": len(report.digests),
            "held_back": len(held),
            "log": dg.MetadataValue.path(str(paths.alerts_log)),
        }
    )
    if report.failed:
        # Delivered alerts are recorded; the failed channel's stay pending for the next run.
        raise dg.Failure(
            description="channel(s) failed: "
            + "; ".join(f"{name}: {error}" for name, error in report.failed.items()),
            metadata={"failed_channels": ", ".join(sorted(report.failed))},
        )
    return len(sent)


@dg.job(description="Notify new regressions and data-quality failures (run by the alerts sensor).")
def notify_alerts() -> None:
    send_alerts()
