"""Which days' results read another day's predictions, so a change there makes them stale.

A day is judged against its neighbours, not only its own rows: the gate's volume check reads
the trailing `volume_window_days`, the duplicate check the `duplicate_window_days` before it, and
a trailing reference the `reference.days` before it. So when day D's predictions change (a late
fix, days run out of order, an ingest that re-judged D while running another day), the days
after D within the longest of those windows were judged on old neighbours. Recomputing exactly
those days keeps every day's tables what they would be had the days been run in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from perf_pipeline.config import ModelConfig


def dependency_window(model: ModelConfig) -> int:
    """How many following days read a day's predictions (the longest look-back window)."""
    trailing = model.reference.days if model.reference.source == "trailing" else 0
    return max(
        trailing or 0,
        model.quality.volume_window_days,
        model.quality.duplicate_window_days,
    )


def days_reading(model: ModelConfig, day: dt.date, last_day: dt.date) -> list[dt.date]:
    """The day itself and the days after it whose results read its predictions, up to
    `last_day` (later days have not been computed, so nothing of theirs can be stale)."""
    window = dependency_window(model)
    return [
        day + dt.timedelta(days=i)
        for i in range(window + 1)
        if day + dt.timedelta(days=i) <= last_day
    ]


def contiguous_ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as (first, last) runs of consecutive days: one backfill range each."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges and day - ranges[-1][1] == dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges
