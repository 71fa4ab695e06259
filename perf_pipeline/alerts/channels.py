"""Notification channels: where an alert goes once it is raised.

A channel is one class with a `kind` (the name used under `notifications:` in `models.yaml`) and
a `send` method; `register_channel` makes the kind usable from the models file. Channels know
nothing of Dagster or of delivery bookkeeping: `perf_pipeline.alerts.delivery` decides what is
new for each channel and records what was sent, so every channel gets exactly-once delivery
without writing any of it.

Shipped kinds beside `log`: `webhook`, `slack` and `email` (modules `webhook`, `slack`, `mail`
of this package), all rendering their text with `perf_pipeline.alerts.messages`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from perf_pipeline.alerts.channel_filter import SEVERITIES, WARNING, AlertFilter
from perf_pipeline.paths import DataPaths

CHANNEL_KINDS: dict[str, type[Channel]] = {}


class ChannelConfigError(ValueError):
    """A `notifications:` entry cannot be used; the message names the entry and the problem.

    `key` is the option at fault, when there is one: `build_channel` then names it as
    `notifications[i].<key>`.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class Channel(ABC):
    """One destination for alerts. Subclasses set `kind` and implement `send`.

    `options` are the entry's keys from `models.yaml` other than `kind`, `name`, `models` and
    `min_severity`; a channel validates them in `__init__` and raises `ChannelConfigError`
    with the `key` at fault.
    """

    kind: ClassVar[str]

    def __init__(self, paths: DataPaths, name: str, options: Mapping[str, Any]) -> None:
        self.paths = paths
        self.name = name
        self.options = dict(options)

    @abstractmethod
    def send(self, alerts: list[dict[str, Any]]) -> None:
        """Deliver `alerts` (rows of the `alerts` table as plain JSON-able dicts) or raise.

        A channel whose `send` also takes `digest: bool = False` is told when the batch is a
        backfill's digest (which may hold a single alert); the shipped kinds do.
        """


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


# Kinds that ship with the pipeline, each in its own module, registered on first use so that
# importing this module (which they import) stays light and free of cycles.
_BUILT_IN_KIND_MODULES = (
    "perf_pipeline.alerts.webhook",
    "perf_pipeline.alerts.slack",
    "perf_pipeline.alerts.mail",
)
_ENTRY_KEYS = ("kind", "name", "models", "min_severity")


def register_built_in_kinds() -> None:
    """Import the modules of the shipped kinds (`webhook`, `slack`, `email`) once."""
    import importlib

    for module in _BUILT_IN_KIND_MODULES:
        importlib.import_module(module)


def build_channel(
    paths: DataPaths, entry: Mapping[str, Any], position: int
) -> tuple[Channel, AlertFilter]:
    """A channel from one `notifications:` entry, with the filter of the alerts it wants
    (its `models`, its `min_severity`)."""
    register_built_in_kinds()
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
    min_severity = entry.get("min_severity", WARNING)
    if min_severity not in SEVERITIES:
        raise ChannelConfigError(
            f"{where}.min_severity: expected one of {', '.join(SEVERITIES)}, not {min_severity!r}"
        )
    options = {k: v for k, v in entry.items() if k not in _ENTRY_KEYS}
    try:
        channel = CHANNEL_KINDS[kind](paths, name, options)
    except ChannelConfigError as exc:
        at = f"{where}.{exc.key}" if exc.key else where
        raise ChannelConfigError(f"{at}: {exc}") from exc
    wanted = frozenset(models) if models is not None else None
    return channel, AlertFilter(wanted, min_severity)
