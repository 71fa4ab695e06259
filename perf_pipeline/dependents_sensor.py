"""`<model>__dependent_days`: recompute the days that read a day whose predictions changed.

The stage logic of which days read which is `perf_pipeline.stages.dependents`; this sensor only
reads the event log. A predictions partition materialized after a later day's gate was computed
(a fix re-run, days run out of order, an ingest that re-judged a day while running another one
and recorded it as a materialization of that day) makes that later day stale. The stale days get
their gate, tables, report and alerts recomputed, never their ingest: a recomputation changes no
predictions, so it cannot set off another one.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.events import DagsterEventType

from perf_pipeline.assets.common import asset_key
from perf_pipeline.config import ModelConfig
from perf_pipeline.names import dagster_name
from perf_pipeline.sensors import materializations_after, partition_day
from perf_pipeline.stages.dependents import contiguous_ranges, days_reading

RECOMPUTED_STAGES = ("data_quality", "performance", "drift", "report", "review", "alerts")


def stale_days(
    instance: dg.DagsterInstance, model: ModelConfig, changes: dict[dt.date, int]
) -> list[dt.date]:
    """Days whose gate ran before a predictions change they read (`changes`: day -> the
    storage id of its predictions materialization); days never judged are not stale."""
    last = dt.datetime.now(dt.UTC).date()
    reading: dict[dt.date, int] = {}
    for day, storage_id in changes.items():
        for candidate in days_reading(model, day, last):
            reading[candidate] = max(reading.get(candidate, 0), storage_id)
    judged = instance.get_latest_storage_id_by_partition(
        asset_key(model.model_id, "data_quality"),
        DagsterEventType.ASSET_MATERIALIZATION,
        partitions={d.isoformat() for d in reading},
    )
    return sorted(
        day for day, changed in reading.items() if 0 < judged.get(day.isoformat(), 0) < changed
    )


def build_dependent_days_sensor(model: ModelConfig, job_name: str) -> dg.SensorDefinition:
    """The sensor for one model; one run per contiguous range of stale days."""
    predictions = asset_key(model.model_id, "predictions")
    # The dashboard is one page over every day: the run that recomputes days redraws it once.
    targets = [asset_key(model.model_id, stage) for stage in (*RECOMPUTED_STAGES, "dashboard")]

    @dg.sensor(
        name=f"{dagster_name(model.model_id)}__dependent_days",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Recomputes the days of {model.model_id} judged against a day whose "
        "predictions changed afterwards (trailing windows, duplicates, volume).",
    )
    def dependent_days(context: dg.SensorEvaluationContext):
        records = materializations_after(context.instance, predictions, int(context.cursor or 0))
        if not records:
            return dg.SkipReason("no predictions changed")
        context.update_cursor(str(records[-1].storage_id))
        changes: dict[dt.date, int] = {}
        for record in records:
            day = partition_day(record.partition_key)
            if day is not None:
                changes[day] = max(changes.get(day, 0), record.storage_id)
        stale = stale_days(context.instance, model, changes)
        if not stale:
            return dg.SkipReason("every day reading the changed predictions is up to date")
        return [
            dg.RunRequest(
                run_key=f"{model.model_id}-dependents-{records[-1].storage_id}-{first}",
                asset_selection=targets,
                tags={
                    "dagster/asset_partition_range_start": first.isoformat(),
                    "dagster/asset_partition_range_end": last.isoformat(),
                    "perf_pipeline/dependent_days": str((last - first).days + 1),
                },
            )
            for first, last in contiguous_ranges(stale)
        ]

    return dependent_days
