"""The one `Definitions` object, loaded by `workspace.yaml` and by the `perf-pipeline` command.

Assets are generated from the models file, so adding a model is a YAML entry and landing files.
Nothing heavy is imported here: Great Expectations and Evidently load only inside the steps that
use them, which keeps the code location fast to load.
"""

from __future__ import annotations

import os

import dagster as dg

from perf_pipeline.alerts.notify import notify_alerts
from perf_pipeline.assets.model_assets import build_model_assets, key, partitions_for
from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.paths import DataPaths, resolve_data_root
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.sensors import build_alerts_sensor, build_late_labels_sensor, run_failure_sensor

# Evidently and Great Expectations phone home by default; nothing leaves this machine.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

DAILY_HOUR_UTC = 2


def daily_job_name(model_id: str) -> str:
    return f"{model_id}__daily"


def model_job(model: ModelConfig) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=daily_job_name(model.model_id),
        selection=dg.AssetSelection.groups(model.model_id),
        partitions_def=partitions_for(model),
        description=f"Every stage of {model.model_id} for a day or a range of days.",
    )


def build_definitions(data_root: str | os.PathLike[str] | None = None) -> dg.Definitions:
    paths = DataPaths(resolve_data_root(data_root))
    models = load_models(paths.models_file)
    assets = [a for model in models.values() for a in build_model_assets(model)]
    jobs = [model_job(m) for m in models.values()]
    schedules = [
        dg.build_schedule_from_partitioned_job(
            job, hour_of_day=DAILY_HOUR_UTC, default_status=dg.DefaultScheduleStatus.RUNNING
        )
        for job in jobs
    ]
    alert_keys = [
        key(m, stage) for m in models.values() for stage in ("labels", "data_quality", "alerts")
    ]
    return dg.Definitions(
        assets=assets,
        jobs=[*jobs, notify_alerts],
        schedules=schedules,
        sensors=[
            build_alerts_sensor(alert_keys),
            *(
                build_late_labels_sensor(m.model_id, daily_job_name(m.model_id))
                for m in models.values()
            ),
            run_failure_sensor,
        ],
        resources={"storage": PipelineStorage(data_root=str(paths.root))},
    )


defs = build_definitions()
