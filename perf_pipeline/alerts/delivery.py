"""Exactly-once delivery of alerts to every configured channel.

Two notifier runs can start at once (the alerts sensor and a CLI backfill, or two sensor ticks
on a slow machine). Each reads what was already sent, sends the rest and records it; without a
lock both would read the same ledger and send the same alerts twice. An exclusive lock on a file
beside the ledger makes read-send-record one step per data root, so every alert reaches every
channel once. A channel that fails records the failure and keeps its alerts pending: the next
notifier run retries them, and the other channels are not held back.
"""

from __future__ import annotations

import datetime as dt
import fcntl
from collections.abc import Callable, Iterator
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
from perf_pipeline.paths import DataPaths

DELIVERED = "delivered"
FAILED = "failed"

ServedChannel = tuple[Channel, Callable[[str], bool]]


def ledger_path(paths: DataPaths) -> Path:
    """`alerts/deliveries.jsonl`: one line per alert, channel and attempt."""
    return paths.alerts_log.with_name("deliveries.jsonl")


def _lock_path(paths: DataPaths) -> Path:
    return paths.alerts_log.with_name(".delivery.lock")


@contextmanager
def exclusive_delivery(paths: DataPaths) -> Iterator[None]:
    """Hold the data root's delivery lock (blocks until another notifier has finished)."""
    lock = _lock_path(paths)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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


def delivered_ids(paths: DataPaths, channel: Channel) -> set[str]:
    """Alert ids this channel has received."""
    ids = {
        r["alert_id"]
        for r in read_json_lines(ledger_path(paths))
        if r.get("channel") == channel.name and r.get("status") == DELIVERED
    }
    if isinstance(channel, LogChannel):
        # The log is itself a record of delivery (the only one older data roots have).
        ids |= {r["alert_id"] for r in read_json_lines(paths.alerts_log) if "alert_id" in r}
    return ids


def pending_ids(paths: DataPaths, alerts: list[dict[str, Any]]) -> list[str]:
    """Ids among `alerts` that some channel serving their model has not received yet."""
    pending: set[str] = set()
    for channel, serves in configured_channels(paths):
        done = delivered_ids(paths, channel)
        pending |= {a["alert_id"] for a in alerts if serves(a["model_id"])} - done
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
    """What one delivery sent, per channel name, and which channels failed (with the error)."""

    sent: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def sent_ids(self) -> set[str]:
        return {a for ids in self.sent.values() for a in ids}


def deliver(
    paths: DataPaths, alerts: list[dict[str, Any]], channels: list[ServedChannel] | None = None
) -> DeliveryReport:
    """Send each alert to each channel serving its model that has not received it yet."""
    report = DeliveryReport()
    with exclusive_delivery(paths):
        for channel, serves in channels if channels is not None else configured_channels(paths):
            done = delivered_ids(paths, channel)
            fresh = [a for a in alerts if a["alert_id"] not in done and serves(a["model_id"])]
            if not fresh:
                continue
            now = dt.datetime.now(dt.UTC).isoformat()
            try:
                channel.send(fresh)
            except Exception as exc:  # a channel's failure must not stop the others
                report.failed[channel.name] = f"{type(exc).__name__}: {exc}"
                _record(paths, channel, fresh, FAILED, now, report.failed[channel.name])
                continue
            _record(paths, channel, fresh, DELIVERED, now, None)
            report.sent[channel.name] = [a["alert_id"] for a in fresh]
    return report


def _record(
    paths: DataPaths,
    channel: Channel,
    alerts: list[dict[str, Any]],
    status: str,
    at: str,
    error: str | None,
) -> None:
    append_json_lines(
        ledger_path(paths),
        [
            {
                "alert_id": a["alert_id"],
                "channel": channel.name,
                "kind": channel.kind,
                "status": status,
                "error": error,
                "at": at,
            }
            for a in alerts
        ],
    )
