"""Per-day facts on each partition, honestly, whatever the run covers.

A single-run backfill materializes every partition of its range with one event whose metadata
Dagster attaches to each partition (dagster issues #18123, #17836): a run-level total would read
as every day's value. So a run over several days records each day's facts as an
`AssetObservation` of that day's partition (numeric values, so the asset's Plots tab draws them
over time), and keeps only run-level totals on the materialization. A run of one day puts the
day's facts on its materialization directly, which then is that partition's own. A run of more
than `PERF_PIPELINE_MAX_OBSERVED_DAYS` days (31 unless set) observes nothing per day: its
materialization says so, and the days' facts are in the tables.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

import dagster as dg

from perf_pipeline.config import ModelConfig

# A run over more days than this keeps its days' facts in the tables only. Each observation is
# one event in Dagster's event log, 26-39 ms apiece on its default SQLite storage and dearer as
# the log grows: a year's backfill spent more on them than on some of its tables. A month's
# backfill still gets one per day; an instance on PostgreSQL may raise the limit.
MAX_OBSERVED_DAYS_ENV = "PERF_PIPELINE_MAX_OBSERVED_DAYS"
DEFAULT_MAX_OBSERVED_DAYS = 31


def max_observed_days() -> int:
    raw = os.environ.get(MAX_OBSERVED_DAYS_ENV, "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_MAX_OBSERVED_DAYS


# The stages a blocked day leaves empty, and so the ones whose partitions say it was blocked.
BLOCKED_DOWNSTREAM = ("performance", "drift", "report")


def record_day_facts(
    context: dg.AssetExecutionContext,
    facts: Mapping[dt.date, Mapping[str, object]],
    asset_key: dg.AssetKey | None = None,
) -> dict[str, object]:
    """The facts to put on the materialization: a one-day run's own; {} after observing each
    day of a longer run on its partition."""
    days = context.partition_keys
    if len(days) == 1 and asset_key is None:
        return dict(facts.get(dt.date.fromisoformat(days[0]), {}))
    limit = max_observed_days()
    if asset_key is None and len(days) > limit:
        return {
            "day_facts": dg.MetadataValue.text(
                f"not observed per day: a run of {len(days)} days (over "
                f"{MAX_OBSERVED_DAYS_ENV}={limit}) keeps each day's facts in "
                "the tables only (ingest_log, data_quality, performance, drift, reports)"
            )
        }
    for day, metadata in sorted(facts.items()):
        context.log_event(
            dg.AssetObservation(
                asset_key=asset_key or context.asset_key,
                partition=day.isoformat(),
                description=f"Facts of {day.isoformat()}",
                metadata=dict(metadata),
            )
        )
    return {}


def observe_blocked_days(
    context: dg.AssetExecutionContext, model: ModelConfig, reasons: Mapping[dt.date, str]
) -> None:
    """Each blocked day's partition of every stage the gate emptied says so, with why: in a
    daily run those stages do not run at all, so without this they would just show the
    previous (green) state."""
    from perf_pipeline.assets.common import asset_key

    for stage in BLOCKED_DOWNSTREAM:
        facts = {
            day: {"blocked": 1, "blocked_reason": dg.MetadataValue.text(reason)}
            for day, reason in reasons.items()
        }
        record_day_facts(context, facts, asset_key(model.model_id, stage))
