"""`<model>/reference`: the baseline a model's days are compared with."""

from typing import TYPE_CHECKING

import dagster as dg

from perf_pipeline.assets.common import STORAGE_KINDS, asset_key, group_name
from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.resources import PipelineStorage

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


def fit_estimator(con: "DuckDBPyConnection", storage: PipelineStorage, model: ModelConfig) -> str:
    """Fit (or load, when the stored one matches this reference) what estimates the model's
    unlabelled days: CBPE's calibration for classifiers, DLE's loss models for regression.
    Fitting here, once per reference, keeps it off the daily performance step."""
    if model.task in (Task.BINARY_CLASSIFICATION, Task.MULTICLASS_CLASSIFICATION):
        from perf_pipeline.estimation.cbpe import reference_calibration

        fitted = reference_calibration(con, storage.paths, model)
        return "CBPE calibration" if fitted is not None else "none (no usable reference)"
    if model.task is Task.REGRESSION:
        from perf_pipeline.estimation.dle_days import reference_loss_model

        loss = reference_loss_model(con, storage.paths, model)
        return f"DLE loss models on {loss.reference_rows} rows" if loss else "none (too few rows)"
    return "none (no estimator for ranking)"


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
            estimator = fit_estimator(con, storage, model)
        overall = metrics[(metrics["segment_column"] == "__all__") & ~metrics["is_estimated"]]
        return dg.MaterializeResult(
            metadata={
                "rows": load.rows_read,
                "files": load.files,
                "estimator": estimator,
                **{
                    f"reference_{row.metric}": float(row.value)
                    for row in overall.itertuples()
                    if row.value == row.value and row.value is not None  # not NaN, not None
                },
            }
        )

    return reference
