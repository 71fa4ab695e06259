"""What every asset of a model shares: its key, group, partitions and backfill policy.

Every daily asset of a model shares one partitions definition and a single-run backfill policy,
so a year's backfill is one run with one vectorized pass per table, not 365 runs; each stage
takes the run's days (one for the schedule, many for a backfill) and treats them independently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg

from perf_pipeline.config import ModelConfig
from perf_pipeline.names import dagster_name

# Assets tagged so write alert files; the alerts sensor watches exactly these.
PRODUCES_ALERTS_TAG = "perf_pipeline/produces_alerts"
STORAGE_KINDS = {"duckdb", "parquet"}


def asset_key(model_id: str, stage: str) -> dg.AssetKey:
    """`[model_id, stage]`: Dagster accepts `-` in key parts, so model ids stay as written."""
    return dg.AssetKey([model_id, stage])


def group_name(model_id: str) -> str:
    return dagster_name(model_id)


def daily_job_name(model_id: str) -> str:
    return f"{dagster_name(model_id)}__daily"


def partitions_for(model: ModelConfig) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=model.start_date.isoformat(), timezone="UTC")


def daily_asset(
    model: ModelConfig,
    stage: str,
    *,
    description: str,
    kinds: set[str] | None = None,
    produces_alerts: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """The `@dg.asset` arguments of a daily stage of `model`, with the owners and tags the
    models file gives the model."""
    tags = {**model.tags, **({PRODUCES_ALERTS_TAG: "true"} if produces_alerts else {})}
    return {
        "key": asset_key(model.model_id, stage),
        "group_name": group_name(model.model_id),
        "partitions_def": partitions_for(model),
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "kinds": kinds or STORAGE_KINDS,
        "tags": tags or None,
        "owners": list(model.owners) or None,
        "description": description,
        **extra,
    }


def run_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def file_url(path: Path) -> dg.MetadataValue:
    """A file under the data root as a link the UI opens (`file:///...`)."""
    return dg.MetadataValue.url(path.resolve().as_uri())


def day_list(days: Iterable[dt.date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days)) or "none"
