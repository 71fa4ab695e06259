"""Persistence: a breach becomes an alert only once it has held on consecutive days.

One bad day is often noise (a small day, a batch of odd traffic); `persist_days: N` on a
threshold asks for the bound to be broken on the judged day and on each of the N - 1 days before
it. A day in that run with nothing to judge (no partition, blocked by the gate, too few labels,
realized numbers not final yet, no value) breaks the run: persistence is evidence that the
breach held, and such a day gives none. Only those N - 1 previous days are read, so a backfill's
cost per day stays flat whatever its length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from perf_pipeline.config import ModelConfig

# What a breach is about: (day, alert kind, metric or column).
BreachKey = tuple[dt.date, str, str]


def longest_persistence(model: ModelConfig) -> int:
    """The largest `persist_days` of the model's thresholds (1 when none asks for more)."""
    return max((t.persist_days for t in model.thresholds.values()), default=1)


def lookback_days(days: Iterable[dt.date], persist_days: int) -> list[dt.date]:
    """`days` and the days before each that a run of `persist_days` needs, sorted."""
    return sorted({d - dt.timedelta(days=k) for d in days for k in range(persist_days)})


def held(
    breaches: set[BreachKey], day: dt.date, kind: str, subject: str, persist_days: int
) -> bool:
    """Whether `subject` broke its bound on `day` and each of the `persist_days - 1` days before."""
    return all((day - dt.timedelta(days=k), kind, subject) in breaches for k in range(persist_days))


def describe_run(day: dt.date, persist_days: int) -> str:
    """The message's note on a persisted breach ('' for a one-day threshold)."""
    if persist_days <= 1:
        return ""
    first = day - dt.timedelta(days=persist_days - 1)
    return f"; held on {persist_days} consecutive days ({first} to {day})"
