"""One real pipeline run over part of the sample, shared by the dashboard and browser tests.

`card_fraud` from day 38 to day 55 of the sample: the day the gate blocks (`upstream_break`,
day 40) and the `fraud_decay` regression (days 44-52, roc_auc about 0.6) with enough labels
landed to alert on it. It runs through the same Dagster job and instance layout as
`perf-pipeline backfill` (a `dagster.yaml` in its own DAGSTER_HOME, so `dagster dev` can show
the run afterwards), once per test session: it is the expensive part.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.runner import RunOutcome, backfill
from perf_pipeline.sample_data import day, write_sample

MODEL_ID = "card_fraud"
FIRST_DAY, LAST_DAY = day(38), day(55)
BLOCKED_DAY = day(40)


@dataclass(frozen=True)
class SampleRun:
    paths: DataPaths
    dagster_home: Path
    outcome: RunOutcome


@functools.lru_cache(maxsize=1)
def sample_run() -> SampleRun:
    workdir = Path(tempfile.mkdtemp(prefix="dashboard_run_"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    paths = write_sample(workdir / "data")
    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    model = load_models(paths.models_file)[MODEL_ID]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [outcome] = backfill(
            build_definitions(paths.root), instance, [model], FIRST_DAY, LAST_DAY, "WARNING"
        )
    return SampleRun(paths, home, outcome)
