"""`<model>/reference`: the baseline a model's days are compared with."""

import dagster as dg

from perf_pipeline.assets.common import STORAGE_KINDS, asset_key, group_name
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage


def reference_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(model.model_id, "reference"),
        group_name=group_name(model.model_id),
        kinds=STORAGE_KINDS,
        description=f"The baseline {model.model_id} is compared with: its validation set, "
        "typed, with its metrics.",
    )
    def reference(storage: PipelineStorage) -> dg.MaterializeResult:
        if model.reference.source == "trailing":
            return dg.MaterializeResult(
                metadata={"source": f"trailing window of {model.reference.days} production days"}
            )
        from perf_pipeline.tables.performance import write_reference_performance
        from perf_pipeline.tables.reference import materialize_reference

        with storage.get_connection() as con:
            load = materialize_reference(con, storage.paths, model)
            metrics = write_reference_performance(con, storage.paths, model)
        overall = metrics[(metrics["segment_column"] == "__all__") & ~metrics["is_estimated"]]
        return dg.MaterializeResult(
            metadata={
                "rows": load.rows_read,
                "files": load.files,
                **{
                    f"reference_{row.metric}": float(row.value)
                    for row in overall.itertuples()
                    if row.value == row.value and row.value is not None  # not NaN, not None
                },
            }
        )

    return reference
