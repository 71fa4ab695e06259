"""`<model>/predictions` and `<model>/labels`: the landing zone read into the lake.

Every row read ends in the table or in `quarantine`; the accounting is the asset's metadata.
"""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, run_days
from perf_pipeline.assets.metadata import accounting_metadata
from perf_pipeline.config import ModelConfig
from perf_pipeline.quality.label_checks import label_check_specs
from perf_pipeline.resources import PipelineStorage


def predictions_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "predictions",
            description=f"Accepted prediction logs of {model.model_id}; "
            "rejected rows go to `quarantine` with a reason.",
        )
    )
    def predictions(
        context: dg.AssetExecutionContext, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        from perf_pipeline.stages.ingest import ingest_prediction_days

        with storage.get_connection() as con:
            results = ingest_prediction_days(con, storage.paths, model, run_days(context))
        for result in results.values():
            if result.load.error:
                context.log.error(f"{model.model_id} {result.load.day}: {result.load.error}")
        return dg.MaterializeResult(metadata=accounting_metadata(results))

    return predictions


def labels_asset(model: ModelConfig) -> dg.AssetsDefinition:
    key = asset_key(model.model_id, "labels")

    @dg.asset(
        **daily_asset(
            model,
            "labels",
            description=f"Ground truth of {model.model_id}, filed by arrival day; the latest "
            "label per prediction wins.",
            produces_alerts=True,
            deps=[asset_key(model.model_id, "predictions")],
            check_specs=label_check_specs(key),
        )
    )
    def labels(context: dg.AssetExecutionContext, storage: PipelineStorage):
        from perf_pipeline.quality.label_checks import label_check_results
        from perf_pipeline.stages.ingest import ingest_label_days

        with storage.get_connection() as con:
            results, rows = ingest_label_days(con, storage.paths, model, run_days(context))
        yield dg.MaterializeResult(metadata=accounting_metadata(results))
        yield from label_check_results(key, rows)

    return labels
