"""The one `Definitions` object, loaded by `dg`, `workspace.yaml` and the `perf-pipeline` command.

Three parts, merged with `dg.Definitions.merge`:

- one `MonitoredModel` component per entry of the models file (`perf_pipeline.components`): a
  model's assets, checks, daily job, schedule and sensors; adding a model is a YAML entry;
- what the project shares: the storage resource, the notification job, the alerts sensor (it
  watches every asset tagged `perf_pipeline/produces_alerts`) and the run-failure sensor;
- the `perf_pipeline/defs/` folder, loaded the Dagster way: a data engineer's Python file dropped
  there is picked up with no registration.

`defs` is lazy (`@dg.definitions`): importing this module reads no models file and imports none
of the heavy libraries, so the code location loads fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import dagster as dg

from perf_pipeline.assets.common import daily_job_name
from perf_pipeline.paths import DataPaths, resolve_data_root

# Evidently and Great Expectations phone home by default; nothing leaves this machine.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

DEFS_MODULE = "perf_pipeline.defs"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["build_definitions", "daily_job_name", "defs"]


def model_definitions(paths: DataPaths) -> dg.Definitions:
    """One `MonitoredModel` per entry of the models file, merged."""
    from perf_pipeline.components.monitored_model import MonitoredModel
    from perf_pipeline.config import load_models

    models = load_models(paths.models_file)
    return dg.Definitions.merge(
        *(
            MonitoredModel(model_id=m.model_id, models_file=str(paths.models_file)).definitions_for(
                m
            )
            for m in models.values()
        )
    )


def shared_definitions(paths: DataPaths) -> dg.Definitions:
    """What every model shares: the storage resource, the notifier job and its sensors."""
    from perf_pipeline.alerts.notify import notify_alerts
    from perf_pipeline.executors import configured_executor
    from perf_pipeline.resources import PipelineStorage
    from perf_pipeline.sensors import alerts_sensor, run_failure_sensor

    return dg.Definitions(
        jobs=[notify_alerts],
        sensors=[alerts_sensor, run_failure_sensor],
        resources={"storage": PipelineStorage(data_root=str(paths.root))},
        executor=configured_executor(),
    )


def defs_folder_definitions(defs_module: ModuleType | str = DEFS_MODULE) -> dg.Definitions:
    """Everything in a defs folder (Python files, `defs.yaml` components), loaded by Dagster's
    component tree, as `dg.load_from_defs_folder` does; given the module rather than found from
    `pyproject.toml`, so an installed package (no pyproject beside it) loads the same way."""
    module = importlib.import_module(defs_module) if isinstance(defs_module, str) else defs_module
    return dg.ComponentTree.from_module(defs_module=module, project_root=PROJECT_ROOT).build_defs()


def build_definitions(
    data_root: str | os.PathLike[str] | None = None,
    defs_module: ModuleType | str = DEFS_MODULE,
) -> dg.Definitions:
    """The models' components, the shared definitions and the defs folder, merged.

    The notification channels are checked last, once the defs folder has registered its own
    channel kinds: a bad `notifications:` entry fails the load like any other models-file error.
    """
    from perf_pipeline.alerts.delivery import channel_config_problems
    from perf_pipeline.assets.gate import gate_definitions
    from perf_pipeline.config import ModelsFileError

    paths = DataPaths(resolve_data_root(data_root))
    merged = dg.Definitions.merge(
        model_definitions(paths), shared_definitions(paths), defs_folder_definitions(defs_module)
    )
    merged = dg.Definitions.merge(merged, gate_definitions(paths))
    problems = channel_config_problems(paths)
    if problems:
        raise ModelsFileError("\n".join(problems))
    return merged


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
