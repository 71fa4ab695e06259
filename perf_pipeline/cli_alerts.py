"""`perf-pipeline alerts list|ack|snooze|resolve`: the incidents, and what people decide on them.

An id is an incident's id or the id of any of its alerts (as in a message, `alerts.jsonl` or the
`alerts` table), or a unique prefix of one, like a git commit. An id that matches nothing, or
more than one incident, is an error naming it (exit 1, like an unknown model).

The backfill command notifies through `notify_after_backfill`: a run over more than one day, or
over a day older than the model's latest, sends its alerts as one digest per model and run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from perf_pipeline.alerts.lifecycle import (
    ACKNOWLEDGED,
    OPEN,
    RESOLVED,
    SNOOZED,
    STATUSES,
    Incident,
)
from perf_pipeline.paths import DataPaths

if TYPE_CHECKING:
    import dagster as dg

EXIT_UNKNOWN_ID = 1


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def add_parser(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser("alerts", help="list incidents; acknowledge, snooze or resolve one")
    actions = alerts.add_subparsers(dest="alerts_command", required=True)
    listing = actions.add_parser("list", help="incidents, newest first")
    listing.add_argument("--model", action="append", help="only this model (repeatable)")
    listing.add_argument("--status", choices=STATUSES, help="only incidents in this status")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    ack = actions.add_parser("ack", help="acknowledge: no more notifications for the incident")
    ack.add_argument("id", help="incident or alert id, or a unique prefix")
    ack.add_argument("--note")
    snooze = actions.add_parser("snooze", help="no notifications for breaches up to a day")
    snooze.add_argument("id", help="incident or alert id, or a unique prefix")
    snooze.add_argument("--until", type=_day, required=True, help="last quiet day, YYYY-MM-DD")
    snooze.add_argument("--note")
    resolve = actions.add_parser("resolve", help="close the incident; a new breach opens another")
    resolve.add_argument("id", help="incident or alert id, or a unique prefix")
    resolve.add_argument("--note")


def effective_status(incident: Incident, today: dt.date) -> str:
    """The status as read today: a snooze past its day is open again (as in the views)."""
    until = incident.snoozed_until
    if incident.status == SNOOZED and until is not None and until < today:
        return OPEN
    return incident.status


def _incidents(paths: DataPaths, models: list[str] | None = None) -> list[Incident]:
    from perf_pipeline.alerts.incidents import refresh_incidents
    from perf_pipeline.lake import connect

    con = connect()
    try:
        return refresh_incidents(con, paths, models)
    finally:
        con.close()


def _print_text(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(no incidents)")
        return
    print(f"{'incident':<16}  {'model':<14} {'status':<12} {'severity':<8} days  first .. last")
    for r in rows:
        subject = f"{r['kind']}:{r['metric_or_column']}"
        span = f"{r['first_date']} .. {r['last_date']}"
        print(
            f"{r['incident_id']:<16}  {r['model_id']:<14} {r['status']:<12} {r['severity']:<8} "
            f"{r['breach_days']:>4}  {span}  {subject}"
        )
        extra = f"snoozed until {r['snoozed_until']}" if r["snoozed_until"] else ""
        extra = extra or (
            f"resolved {r['resolved_on']} by {r['resolved_by']}" if r["resolved_by"] else ""
        )
        note = f"  note: {r['note']}" if r["note"] else ""
        print(f"{'':<18}{r['message']}" + (f"  [{extra}]" if extra else "") + note)


def list_incidents(
    paths: DataPaths, models: list[str] | None, status: str | None, form: str
) -> int:
    from perf_pipeline.alerts.channels import jsonable
    from perf_pipeline.alerts.incidents import incident_record

    today = dt.datetime.now(dt.UTC).date()
    rows = [incident_record(i, effective_status(i, today), jsonable) for i in _incidents(paths)]
    rows = [r for r in rows if (not models or r["model_id"] in models)]
    rows = [r for r in rows if status is None or r["status"] == status]
    rows.sort(key=lambda r: (r["last_date"], r["model_id"], r["incident_id"]), reverse=True)
    if form == "json":
        print(json.dumps(rows, indent=2))
    else:
        _print_text(rows)
    return 0


def decide(
    paths: DataPaths, wanted: str, status: str, note: str | None, until: dt.date | None
) -> int:
    """Record a person's decision on the incident `wanted` names; exit code."""
    from perf_pipeline.alerts.incidents import refresh_incidents
    from perf_pipeline.alerts.state import (
        AmbiguousAlertError,
        UnknownAlertError,
        find_incident,
        record_decision,
    )
    from perf_pipeline.lake import connect

    try:
        incident = find_incident(_incidents(paths), wanted)
    except (UnknownAlertError, AmbiguousAlertError) as exc:
        print(f"perf-pipeline alerts: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN_ID
    named = (
        f"incident {incident.incident_id} ({incident.model_id} {incident.kind} "
        f"{incident.metric_or_column}, {incident.first_date} .. {incident.last_date})"
    )
    if incident.status == RESOLVED:
        print(f"{named} is already resolved; a new breach opens a new incident")
        return 0
    con = connect()
    try:
        record_decision(con, paths, incident, status, note, until)
        refresh_incidents(con, paths, [incident.model_id])
    finally:
        con.close()
    said = {ACKNOWLEDGED: "acknowledged", RESOLVED: "resolved"}.get(
        status, f"snoozed until {until}"
    )
    print(f"{named}: {said}")
    return 0


def run(args: argparse.Namespace, paths: DataPaths) -> int:
    command = args.alerts_command
    if command == "list":
        return list_incidents(paths, args.model, args.status, args.format)
    status = {"ack": ACKNOWLEDGED, "snooze": SNOOZED, "resolve": RESOLVED}[command]
    return decide(paths, args.id, status, args.note, getattr(args, "until", None))


def _latest_alert_day(paths: DataPaths, model_id: str) -> dt.date | None:
    from perf_pipeline.alerts.evidence import alert_partition_days

    days = alert_partition_days(paths, model_id, dt.date.min)
    return max(days) if days else None


def backfill_digests(
    paths: DataPaths, pending: list[dict[str, str]], outcomes: list
) -> dict[str, str]:
    """Pending alert id -> the run that backfilled its model, for runs that are backfills: more
    than one day, or one day older than the model's latest alerts day."""
    digests = {}
    for outcome in outcomes:
        latest = _latest_alert_day(paths, outcome.model_id)
        old_day = latest is not None and outcome.end < latest
        if outcome.end > outcome.start or old_day:
            digests |= {
                a["alert_id"]: outcome.run_id for a in pending if a["model_id"] == outcome.model_id
            }
    return digests


def _pending(paths: DataPaths) -> list[dict[str, str]]:
    from perf_pipeline.alerts.delivery import pending_ids
    from perf_pipeline.lake import connect, has_files, read_table_sql

    if not has_files(paths, "alerts"):
        return []
    con = connect()
    try:
        rows = con.execute(
            f"SELECT DISTINCT alert_id, model_id FROM {read_table_sql(paths, 'alerts')}"
        ).fetchall()
    finally:
        con.close()
    alerts = [{"alert_id": a, "model_id": m} for a, m in rows]
    wanted = set(pending_ids(paths, alerts))
    return [a for a in alerts if a["alert_id"] in wanted]


def notify_after_backfill(
    defs: dg.Definitions, instance: dg.DagsterInstance, paths: DataPaths, outcomes: list
) -> tuple[int, str | None]:
    """Run the notification job for every pending alert (what the alerts sensor does on a
    tick), a backfill's as one digest per model and run: the number sent, and the failure (a
    channel that refused) if there was one."""
    pending = _pending(paths)
    if not pending:
        return 0, None
    config = {
        "alert_ids": sorted(a["alert_id"] for a in pending),
        "digests": backfill_digests(paths, pending, outcomes),
    }
    result = defs.resolve_job_def("notify_alerts").execute_in_process(
        run_config={
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            "ops": {"send_alerts": {"config": config}},
        },
        instance=instance,
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure and failure.step_failure_data else None
        return 0, (error.message.strip() if error else "the notifier run failed")
    return int(result.output_for_node("send_alerts")), None
