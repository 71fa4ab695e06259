"""A small binary model over four days, for the report, check and observation tests.

Day 1 is healthy, day 2 regresses (labels unrelated to the scores: roc_auc about 0.5, below
its minimum 0.7) and drifts (amount and scores shifted), day 3 recovers, day 4 has no logs at
all and is blocked at the gate. Labels of each day land the next day; the days are long past,
so their labels are final.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.paths import DataPaths
from perf_pipeline_tests.landing_zone import (
    binary_frame,
    land_labels,
    write_prediction_log,
    write_reference_frame,
)

MODEL = "fraud"
DAYS = [dt.date(2026, 1, 10) + dt.timedelta(days=i) for i in range(4)]
HEALTHY, REGRESSED, RECOVERED, BLOCKED = DAYS
ROWS = 400
MODELS_YAML = f"""
models:
  {MODEL}:
    task: binary_classification
    features:
      numerical: [amount]
    start_date: {DAYS[0].isoformat()}
    label_delay_days: 1
    min_labelled_rows: 50
    owners: [team:fraud, risk@example.com]
    tags: {{domain: payments}}
    thresholds:
      roc_auc: {{min: 0.7}}
"""


def write_scenario(root: Path) -> DataPaths:
    paths = DataPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    rng = np.random.default_rng(11)
    write_reference_frame(paths, MODEL, binary_frame(rng, 1000, DAYS[0] - dt.timedelta(days=30)))
    for day in (HEALTHY, REGRESSED, RECOVERED):
        frame = binary_frame(rng, ROWS, day)
        if day == REGRESSED:
            frame["amount"] += 40
            frame["score"] = rng.random(ROWS) ** 4
            frame["prediction"] = (frame["score"] >= 0.5).astype(int)
            frame["label"] = (rng.random(ROWS) < 0.3).astype(int)
        write_prediction_log(paths, MODEL, day, frame)
        land_labels(paths, MODEL, day + dt.timedelta(days=1), frame)
    return paths


def run_range(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: dt.date, last: dt.date
) -> dg.ExecuteInProcessResult:
    """One run over `first`..`last` (a single-run backfill), or the daily run of one day."""
    job = defs.resolve_job_def(daily_job_name(MODEL))
    if first == last:
        return job.execute_in_process(
            instance=instance, partition_key=first.isoformat(), raise_on_error=False
        )
    return job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        raise_on_error=False,
    )


def definitions(paths: DataPaths) -> dg.Definitions:
    return build_definitions(paths.root)
