"""Exactly-once delivery of alerts to every configured channel.

Two notifier runs can start at once (the alerts sensor and a CLI backfill, or two sensor ticks
on a slow machine). Each reads what was already sent, sends the rest and records it; without a
lock both would read the same ledger and send the same alerts twice. An exclusive lock on a file
beside the ledger makes read-send-record one step per data root, so every alert reaches every
channel once. A channel that fails records the failure and keeps its alerts pending: the next
notifier run retries them, and the other channels are not held back.

What is sent follows the alerts' incidents (`perf_pipeline.alerts.lifecycle`), and the contract
with a channel's `send(alerts)` is:

- **one alert** per call in daily mode: `send([alert])`. An incident is sent once per channel:
  its first breach, and later breaches only when their severity is higher than any sent before
  (an escalation); the other breaches are recorded as `suppressed` ("continues incident ...").
- **a digest** in digest mode (a backfill: `digests` maps each alert id to its run): one call
  per model and run with all of its new alerts, `send(alerts, digest=True)` when the channel's
  `send` takes a `digest` parameter, else `send(alerts)`. A digest may hold one alert.
- Every alert dict is a row of the `alerts` table (JSON-able values) plus `incident_id`,
  `incident_first_date` and `incident_breach_days`, so a digest can be grouped by incident.
- Whatever the mode, an alert whose incident a person acknowledged, resolved, or snoozed past
  the alert's day (`alerts ack|resolve|snooze`) is not sent: it is recorded as `suppressed`
  with the reason. A suppressed alert is settled like a delivered one: never retried.

Every attempt is a line of the ledger (`alert_id`, `channel`, `kind`, `status` =
`delivered`/`failed`/`suppressed`, `error`, `reason`, `digest`, `at`), which the `notifications`
view exposes to SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perf_pipeline.alerts.channels import (
    Channel,
    ChannelConfigError,
    LogChannel,
    MisconfiguredChannel,
    append_json_lines,
    build_channel,
    read_json_lines,
)
from perf_pipeline.alerts.lifecycle import (
    ACKNOWLEDGED,
    RESOLVED,
    SNOOZED,
    Incident,
    severity_rank,
)
from perf_pipeline.file_lock import exclusive_lock
from perf_pipeline.paths import DataPaths

DELIVERED = "delivered"
FAILED = "failed"
SUPPRESSED = "suppressed"

# The filter takes an alert dict (or, from older callers, a bare model id).
ServedChannel = tuple[Channel, Callable[[Any], bool]]


def ledger_path(paths: DataPaths) -> Path:
    """`alerts/deliveries.jsonl`: one line per alert, channel and attempt."""
    return paths.alerts_log.with_name("deliveries.jsonl")


def _lock_path(paths: DataPaths) -> Path:
    return paths.alerts_log.with_name(".delivery.lock")


@contextmanager
def exclusive_delivery(paths: DataPaths) -> Iterator[None]:
    """Hold the data root's delivery lock (blocks until another notifier has finished)."""
    with exclusive_lock(_lock_path(paths)):
        yield


def _notification_entries(paths: DataPaths) -> list[Any]:
    raw: Any = {}
    if paths.models_file.exists():
        raw = yaml.safe_load(paths.models_file.read_text(encoding="utf-8")) or {}
    entries = raw.get("notifications") if isinstance(raw, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ChannelConfigError(f"{paths.models_file}: 'notifications' must be a list")
    return entries


def channel_config_problems(paths: DataPaths) -> list[str]:
    """Every problem of the `notifications:` entries (empty when all of them can be built)."""
    try:
        entries = _notification_entries(paths)
    except ChannelConfigError as exc:
        return [str(exc)]
    problems = [
        f"{paths.models_file}: {error}" for _, error in _build_entries(paths, entries) if error
    ]
    served = [c.name for c, _ in configured_channels(paths)]
    repeated = sorted({n for n in served if served.count(n) > 1})
    if repeated:
        problems.append(
            f"{paths.models_file}: notifications: channel names repeat ({', '.join(repeated)}); "
            "give each channel of one kind its own 'name' (delivery is recorded per name)"
        )
    return problems


def _build_entries(
    paths: DataPaths, entries: list[Any]
) -> list[tuple[ServedChannel | None, str | None]]:
    built: list[tuple[ServedChannel | None, str | None]] = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            built.append((None, f"notifications[{position}]: expected a mapping with 'kind'"))
        elif entry.get("kind") != LogChannel.kind:  # the log is always on already
            try:
                built.append((build_channel(paths, entry, position), None))
            except ChannelConfigError as exc:
                built.append((None, str(exc)))
    return built


def configured_channels(paths: DataPaths) -> list[ServedChannel]:
    """The log channel (always on) and the models file's `notifications:` entries.

    An entry that cannot be built becomes a channel that fails with its error: the log and the
    other channels still deliver, and its alerts wait until the entry is fixed.
    """
    channels: list[ServedChannel] = [(LogChannel(paths, "log", {}), lambda _model: True)]
    try:
        entries = _notification_entries(paths)
    except ChannelConfigError as exc:
        entries, broken = [], [str(exc)]
    else:
        broken = []
    for channel, error in _build_entries(paths, entries):
        if channel is not None:
            channels.append(channel)
        elif error is not None:
            broken.append(error)
    for index, error in enumerate(broken, start=1):
        name = f"misconfigured_{index}"
        channels.append((MisconfiguredChannel(paths, name, {"error": error}), lambda _m: True))
    return channels


def delivered_ids(paths: DataPaths, channel: Channel, settled: bool = False) -> set[str]:
    """Alert ids this channel has received; with `settled`, also those suppressed for it (done
    with, never to be sent)."""
    done = {DELIVERED, SUPPRESSED} if settled else {DELIVERED}
    ids = {
        r["alert_id"]
        for r in read_json_lines(ledger_path(paths))
        if r.get("channel") == channel.name and r.get("status") in done
    }
    if isinstance(channel, LogChannel):
        # The log is itself a record of delivery (the only one older data roots have).
        ids |= {r["alert_id"] for r in read_json_lines(paths.alerts_log) if "alert_id" in r}
    return ids


def pending_ids(paths: DataPaths, alerts: list[dict[str, Any]]) -> list[str]:
    """Ids among `alerts` that some channel serving their model has not received yet."""
    pending: set[str] = set()
    for channel, serves in configured_channels(paths):
        done = delivered_ids(paths, channel, settled=True)
        pending |= {a["alert_id"] for a in alerts if serves(a)} - done
    return sorted(pending)


def failed_attempts_due(
    paths: DataPaths, now: dt.datetime, wait: dt.timedelta
) -> tuple[list[str], str | None]:
    """Alert ids whose latest attempt on some channel failed, once `wait` has passed since the
    newest such failure (so a channel that is down is retried, not hammered), with that
    failure's time; nothing while the wait runs or when nothing failed."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in read_json_lines(ledger_path(paths)):
        latest[(record.get("alert_id", ""), record.get("channel", ""))] = record
    failed = [r for r in latest.values() if r.get("status") == FAILED]
    if not failed:
        return [], None
    newest = max(str(r.get("at")) for r in failed)
    if now - dt.datetime.fromisoformat(newest) < wait:
        return [], None
    return sorted({r["alert_id"] for r in failed}), newest


@dataclass
class DeliveryReport:
    """What one delivery sent, per channel name; what it held back (with the reason); which
    channels failed (with the error); the digests sent (digest id -> alert ids)."""

    sent: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    suppressed: dict[str, list[str]] = field(default_factory=dict)
    digests: dict[str, list[str]] = field(default_factory=dict)

    @property
    def sent_ids(self) -> set[str]:
        return {a for ids in self.sent.values() for a in ids}


def deliver(
    paths: DataPaths,
    alerts: list[dict[str, Any]],
    channels: list[ServedChannel] | None = None,
    digests: Mapping[str, str] | None = None,
    incidents: Mapping[str, Incident] | None = None,
) -> DeliveryReport:
    """Send each alert to each channel serving it that has not received it yet, following
    the module's contract. `digests` maps the ids of a backfill's alerts to their run (default:
    none, every alert in daily mode); `incidents` maps alert ids to their incidents (default:
    rebuilt from the lake now)."""
    if incidents is None:
        incidents = current_incidents(paths, sorted({a["model_id"] for a in alerts}))
    alerts = [_with_incident(a, incidents.get(a["alert_id"])) for a in alerts]
    report = DeliveryReport()
    with exclusive_delivery(paths):
        for channel, serves in channels if channels is not None else configured_channels(paths):
            settled = delivered_ids(paths, channel, settled=True)
            fresh = [a for a in alerts if a["alert_id"] not in settled and serves(a)]
            if fresh:
                plan = plan_delivery(fresh, digests or {}, incidents, delivered_ids(paths, channel))
                _carry_out(paths, channel, plan, report)
    from perf_pipeline.views import refresh_views

    refresh_views(paths)  # the `notifications` view appears with the ledger
    return report


def current_incidents(paths: DataPaths, model_ids: list[str]) -> dict[str, Incident]:
    """Each alert id's incident, for these models, from the `incidents` rebuilt now."""
    from perf_pipeline.alerts.incidents import by_alert_id, refresh_incidents
    from perf_pipeline.lake import connect

    con = connect()
    try:
        return by_alert_id(refresh_incidents(con, paths, model_ids))
    finally:
        con.close()


def _with_incident(alert: dict[str, Any], incident: Incident | None) -> dict[str, Any]:
    if incident is None:
        return {**alert, "incident_id": alert["alert_id"]}
    return {
        **alert,
        "incident_id": incident.incident_id,
        "incident_first_date": incident.first_date.isoformat(),
        "incident_breach_days": len(incident.members),
    }


@dataclass
class DeliveryPlan:
    """One channel's share of a delivery: what to send alone, in digests, or hold back."""

    single: list[dict[str, Any]] = field(default_factory=list)
    digests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    held: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def _day(alert: Mapping[str, Any]) -> dt.date:
    return dt.date.fromisoformat(str(alert["date"])[:10])


def held_by_people(alert: Mapping[str, Any], incident: Incident | None) -> str | None:
    """Why a person's decision keeps this alert from being sent, or None."""
    decision = incident.decision if incident is not None else None
    if decision is None:
        return None
    named = f"incident {incident.incident_id}"  # type: ignore[union-attr]
    if decision.status == ACKNOWLEDGED:
        return f"{named} acknowledged"
    through = decision.resolved_through
    if decision.status == RESOLVED and through is not None and _day(alert) <= through:
        return f"{named} resolved by hand"
    until = decision.snoozed_until
    if decision.status == SNOOZED and until is not None and _day(alert) <= until:
        return f"{named} snoozed until {until.isoformat()}"
    return None


def _continues(
    alert: Mapping[str, Any], incident: Incident | None, notified: set[str]
) -> str | None:
    """Why a breach is not sent alone: its incident already reached this channel with a
    severity at least as high (since the end of a snooze, if there was one)."""
    if incident is None:
        return None
    since = incident.snoozed_until or dt.date.min
    earlier = [
        m
        for m in incident.members
        if m.alert_id != alert["alert_id"] and m.alert_id in notified and m.date > since
    ]
    if any(severity_rank(m.severity) >= severity_rank(alert.get("severity")) for m in earlier):
        return f"continues incident {incident.incident_id} (already notified)"
    return None


def plan_delivery(
    fresh: list[dict[str, Any]],
    digests: Mapping[str, str],
    incidents: Mapping[str, Incident],
    notified: set[str],
) -> DeliveryPlan:
    """Split one channel's new alerts into single sends, digests and held-back alerts."""
    plan = DeliveryPlan()
    notified = set(notified)
    for alert in sorted(fresh, key=lambda a: (str(a["date"]), a["alert_id"])):
        incident = incidents.get(alert["alert_id"])
        reason = held_by_people(alert, incident)
        if reason is None and alert["alert_id"] in digests:
            key = digest_id(digests[alert["alert_id"]], alert["model_id"])
            plan.digests.setdefault(key, []).append(alert)
            continue
        reason = reason or _continues(alert, incident, notified)
        if reason is not None:
            plan.held.append((alert, reason))
        else:
            plan.single.append(alert)
            notified.add(alert["alert_id"])
    return plan


def digest_id(run: str, model_id: str) -> str:
    """A digest's id: one per run and model."""
    return hashlib.sha256(f"{run}|{model_id}".encode()).hexdigest()[:12]


def _send(channel: Channel, batch: list[dict[str, Any]], digest: bool) -> None:
    if digest and "digest" in inspect.signature(channel.send).parameters:
        channel.send(batch, digest=True)  # type: ignore[call-arg]
    else:
        channel.send(batch)


def _carry_out(
    paths: DataPaths, channel: Channel, plan: DeliveryPlan, report: DeliveryReport
) -> None:
    """Send the plan, recording every attempt; a failure stops this channel's sends and keeps
    what is left pending."""
    for alert, reason in plan.held:
        _record(paths, channel, [alert], SUPPRESSED, None, reason=reason)
        report.suppressed.setdefault(channel.name, []).append(alert["alert_id"])
    batches = [(key, batch, True) for key, batch in plan.digests.items()]
    batches += [(None, [alert], False) for alert in plan.single]
    for position, (key, batch, digest) in enumerate(batches):
        try:
            _send(channel, batch, digest)
        except Exception as exc:  # a channel's failure must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            report.failed[channel.name] = error
            for later_key, later, _ in batches[position:]:
                _record(paths, channel, later, FAILED, error, digest=later_key)
            return
        _record(paths, channel, batch, DELIVERED, None, digest=key)
        report.sent.setdefault(channel.name, []).extend(a["alert_id"] for a in batch)
        if key is not None:
            report.digests[key] = [a["alert_id"] for a in batch]


def _record(
    paths: DataPaths,
    channel: Channel,
    alerts: list[dict[str, Any]],
    status: str,
    error: str | None,
    reason: str | None = None,
    digest: str | None = None,
) -> None:
    at = dt.datetime.now(dt.UTC).isoformat()
    append_json_lines(
        ledger_path(paths),
        [
            {
                "alert_id": a["alert_id"],
                "model_id": a.get("model_id"),
                "channel": channel.name,
                "kind": channel.kind,
                "status": status,
                "error": error,
                "reason": reason,
                "digest": digest,
                "at": at,
            }
            for a in alerts
        ],
    )
