"""`MonitoredModel`: everything Dagster runs for one model, as one component.

Why the project builds these in Python from the models file rather than from `defs.yaml` files:
the models file (`<data root>/models.yaml`) is the one place a user declares what to monitor. It
lives in the data root, moves with `PERF_PIPELINE_HOME`, and is read by the command line too. A
`defs.yaml` per model would be a second declaration to keep in step with it, in the code
package, where adding a model would mean a code change. So `perf_pipeline.definitions` builds one
`MonitoredModel` per entry of the models file and merges their definitions.

The component stays a real, YAML-loadable component for the rare project that wants one model
from another models file in its own `defs/` folder:

```yaml
type: perf_pipeline.components.MonitoredModel
attributes:
  model_id: churn
  models_file: /srv/monitoring/models.yaml
```
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from perf_pipeline.assets.common import daily_job_name, partitions_for
from perf_pipeline.assets.model_assets import build_model_assets
from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.dependents_sensor import build_dependent_days_sensor
from perf_pipeline.freshness import (
    DEFAULT_DEADLINE_HOUR_UTC,
    build_freshness_alerts_sensor,
    freshness_checks,
    freshness_checks_sensor,
)
from perf_pipeline.object_store import as_path
from perf_pipeline.sensors import build_late_labels_sensor

DAILY_HOUR_UTC = 2


class MonitoredModel(dg.Component, dg.Model, dg.Resolvable):
    """One model's assets, checks, daily job and schedule, late-label, dependent-days and
    freshness sensors."""

    model_id: str = Field(description="The model's id: its key in the models file.")
    models_file: str = Field(
        description="Path of the models file that declares the model "
        "(normally `<data root>/models.yaml`)."
    )
    schedule_hour_utc: int = Field(
        default=DAILY_HOUR_UTC,
        ge=0,
        le=23,
        description="Hour (UTC) at which the daily job runs yesterday's partition.",
    )
    freshness_deadline_hour_utc: int = Field(
        default=DEFAULT_DEADLINE_HOUR_UTC,
        ge=0,
        le=23,
        description="Hour (UTC) by which yesterday's performance must have landed; later, the "
        "model is stale: its freshness check fails and a freshness alert is raised.",
    )

    def read_model(self) -> ModelConfig:
        models = load_models(as_path(self.models_file))
        if self.model_id not in models:
            raise KeyError(
                f"{self.models_file}: no model {self.model_id!r} (declared: {sorted(models)})"
            )
        return models[self.model_id]

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.definitions_for(self.read_model())

    def definitions_for(self, model: ModelConfig) -> dg.Definitions:
        """The definitions of `model`, already read (the project reads the file once)."""
        assets = build_model_assets(model)
        # The model's own stages, not its whole group: an asset a user adds to the group may
        # have another cadence (a weekly roll-up) and would not fit a daily job.
        job = dg.define_asset_job(
            name=daily_job_name(model.model_id),
            selection=dg.AssetSelection.assets(*assets),
            partitions_def=partitions_for(model),
            description=f"Every stage of {model.model_id} for a day or a range of days.",
            # The run queue's per-model limit (deploy/dagster.yaml) counts runs by this tag.
            tags={"perf_pipeline/model": model.model_id},
        )
        schedule = dg.build_schedule_from_partitioned_job(
            job,
            hour_of_day=self.schedule_hour_utc,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        )
        checks = freshness_checks(model.model_id, self.freshness_deadline_hour_utc)
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=[job],
            schedules=[schedule],
            sensors=[
                build_late_labels_sensor(model.model_id, job.name),
                build_dependent_days_sensor(model, job.name),
                freshness_checks_sensor(model.model_id, checks),
                build_freshness_alerts_sensor(model.model_id),
            ],
        )
