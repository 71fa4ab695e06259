"""`<model>/reference`: the baseline a model's days are compared with.

It sits in the model's daily job, so the first run of a new model builds it before the days that
need it, but it is rebuilt only when what it is built from changes: its landing files, the
model's settings, or its code (`REFERENCE_CODE_VERSION`, also the asset's Dagster
`code_version`). Every run records a materialization whose data version is the hash of those
inputs, so Dagster shows downstream assets as stale only when the reference really changed, and
the metadata's `rebuilt` says whether this run did the work.
"""

from typing import TYPE_CHECKING, Any

import dagster as dg

from perf_pipeline.assets.common import STORAGE_KINDS, asset_key, group_name
from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.stages.reference import (
    REFERENCE_CODE_VERSION,
    record_inputs_hash,
    reference_inputs_hash,
    stored_inputs_hash,
)

if TYPE_CHECKING:
    import pandas as pd
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


def _metric_metadata(metrics: "pd.DataFrame") -> dict[str, float]:
    overall = metrics[(metrics["segment_column"] == "__all__") & ~metrics["is_estimated"]]
    return {
        f"reference_{row.metric}": float(row.value)
        for row in overall.itertuples()
        if row.value == row.value and row.value is not None  # not NaN, not None
    }


def _rebuild(
    storage: PipelineStorage, model: ModelConfig, inputs_hash: str
) -> tuple[dict[str, Any], "pd.DataFrame"]:
    """Type the landing reference, measure it and fit its estimator; the hash goes last."""
    from perf_pipeline.tables.performance import write_reference_performance
    from perf_pipeline.tables.reference import materialize_reference

    with storage.get_connection() as con:
        load = materialize_reference(con, storage.paths, model)
        metrics = write_reference_performance(con, storage.paths, model)
        estimator = fit_estimator(con, storage, model)
    record_inputs_hash(storage.paths, model.model_id, inputs_hash)
    metadata = {"rows": load.rows_read, "files": load.files, "estimator": estimator}
    return {**metadata, "rebuilt": True}, metrics


def _reuse(storage: PipelineStorage, model: ModelConfig) -> tuple[dict[str, Any], "pd.DataFrame"]:
    """The stored reference is current: only its estimator is checked (a deleted fit is redone,
    a stored one is loaded by its hash), and its metrics are read back for the metadata."""
    from perf_pipeline.lake import read_table_sql

    with storage.get_connection() as con:
        estimator = fit_estimator(con, storage, model)
        source = read_table_sql(storage.paths, "reference_performance", model.model_id)
        metrics = con.execute(f"SELECT * FROM {source}").df()
        rows = con.execute(
            f"SELECT count(*) FROM {read_table_sql(storage.paths, 'reference', model.model_id)}"
        ).fetchone()[0]
    return {"rows": int(rows), "estimator": estimator, "rebuilt": False}, metrics


def reference_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(model.model_id, "reference"),
        group_name=group_name(model.model_id),
        kinds=STORAGE_KINDS,
        code_version=REFERENCE_CODE_VERSION,
        owners=list(model.owners) or None,
        tags=model.tags or None,
        description=f"The baseline {model.model_id} is compared with: its validation set, "
        "typed, with its metrics; rebuilt only when its files, settings or code change.",
    )
    def reference(storage: PipelineStorage) -> dg.MaterializeResult:
        if model.reference.source == "trailing":
            return dg.MaterializeResult(
                metadata={"source": f"trailing window of {model.reference.days} production days"}
            )
        inputs_hash = reference_inputs_hash(storage.paths, model)
        if stored_inputs_hash(storage.paths, model.model_id) == inputs_hash:
            metadata, metrics = _reuse(storage, model)
        else:
            metadata, metrics = _rebuild(storage, model, inputs_hash)
        return dg.MaterializeResult(
            metadata={**metadata, "inputs_sha256": inputs_hash, **_metric_metadata(metrics)},
            data_version=dg.DataVersion(inputs_hash),
        )

    return reference
