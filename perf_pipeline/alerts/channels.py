"""Notification channels: where an alert goes once it is raised.

A channel is one class with a `kind` (the name used under `notifications:` in `models.yaml`) and
a `send` method; `register_channel` makes the kind usable from the models file. Channels know
nothing of Dagster or of delivery bookkeeping: `perf_pipeline.alerts.delivery` decides what is
new for each channel and records what was sent, so every channel gets exactly-once delivery
without writing any of it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from perf_pipeline.paths import DataPaths

CHANNEL_KINDS: dict[str, type[Channel]] = {}


class ChannelConfigError(ValueError):
    """A `notifications:` entry cannot be used; the message names the entry and the problem."""


class Channel(ABC):
    """One destination for alerts. Subclasses set `kind` and implement `send`.

    `options` are the entry's keys from `models.yaml` other than `kind`, `name` and `models`;
    a channel validates them in `__init__` and raises `ChannelConfigError` naming the key.
    """

    kind: ClassVar[str]

    def __init__(self, paths: DataPaths, name: str, options: Mapping[str, Any]) -> None:
        self.paths = paths
        self.name = name
        self.options = dict(options)

    @abstractmethod
    def send(self, alerts: list[dict[str, Any]]) -> None:
        """Deliver `alerts` (rows of the `alerts` table as plain JSON-able dicts) or raise."""


def register_channel(cls: type[Channel]) -> type[Channel]:
    """Class decorator: make `cls.kind` usable as `{kind: ...}` under `notifications:`."""
    if not getattr(cls, "kind", None):
        raise TypeError(f"{cls.__name__} needs a class attribute 'kind'")
    CHANNEL_KINDS[cls.kind] = cls
    return cls


def jsonable(value: object) -> object:
    """Strict JSON values: missing numbers become null, days and times ISO 8601 text."""
    import pandas as pd

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


def append_json_lines(path: Path, records: list[dict[str, Any]]) -> None:
    """Append records as JSON Lines, flushed and synced so a crash cannot lose a sent line."""
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            clean = {k: jsonable(v) for k, v in record.items()}
            handle.write(json.dumps(clean, sort_keys=True, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file; a torn last line (a crash mid-write) is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class MisconfiguredChannel(Channel):
    """Stands in for an entry that cannot be built, so the other channels (the log first of
    all) still deliver while this one fails every attempt with its configuration error, keeping
    its alerts pending until the entry is fixed."""

    kind = "misconfigured"

    def send(self, alerts: list[dict[str, Any]]) -> None:
        raise ChannelConfigError(self.options["error"])


@register_channel
class LogChannel(Channel):
    """`alerts/alerts.jsonl`: always on, needs nothing outside the machine, any tool can tail it.

    The Dagster event log gets each alert as a warning from the notifying step itself.
    """

    kind = "log"

    def send(self, alerts: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        append_json_lines(self.paths.alerts_log, [{**a, "notified_at": now} for a in alerts])


def build_channel(
    paths: DataPaths, entry: Mapping[str, Any], position: int
) -> tuple[Channel, Callable[[str], bool]]:
    """A channel from one `notifications:` entry, with the filter of the models it serves."""
    kind = entry.get("kind")
    where = f"notifications[{position}]"
    if kind not in CHANNEL_KINDS:
        raise ChannelConfigError(
            f"{where}.kind: unknown channel kind {kind!r}; valid: {sorted(CHANNEL_KINDS)}"
        )
    # The delivery ledger is keyed by this name, so it must not move when entries are reordered:
    # the kind itself, or the entry's own `name` (required when a kind appears twice).
    name = str(entry.get("name") or kind)
    models = entry.get("models")
    if models is not None and not (
        isinstance(models, list) and all(isinstance(m, str) for m in models)
    ):
        raise ChannelConfigError(f"{where}.models: expected a list of model ids, not {models!r}")
    options = {k: v for k, v in entry.items() if k not in ("kind", "name", "models")}
    try:
        channel = CHANNEL_KINDS[kind](paths, name, options)
    except ChannelConfigError as exc:
        raise ChannelConfigError(f"{where}: {exc}") from exc
    wanted = set(models) if models is not None else None
    return channel, (lambda model_id: wanted is None or model_id in wanted)
