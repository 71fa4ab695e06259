"""`<model>/dashboard`: the model's trend page and the index of every model, after each run.

Not partitioned: the page covers the model's whole history, so it is one file however many
days a run covers. In the model's daily job it runs once per run, after the day's tables and
alerts; a single-run backfill of a year builds it once, at the end, not once per day.
"""

import dagster as dg

from perf_pipeline.assets.common import asset_key, group_name
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage

DASHBOARD_STAGE = "dashboard"


def dashboard_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(model.model_id, DASHBOARD_STAGE),
        group_name=group_name(model.model_id),
        deps=[
            asset_key(model.model_id, stage)
            for stage in ("performance", "drift", "report", "alerts")
        ],
        kinds={"plotly", "html"},
        description=f"Trend dashboard of {model.model_id} (reports/{model.model_id}/index.html): "
        "metrics against their bounds, estimated beside realized, label coverage, volume, drift "
        "per feature and day, alerts, worst segments, links to each day's report; and "
        "reports/index.html, every model's current state.",
    )
    def dashboard(
        context: dg.AssetExecutionContext, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        from perf_pipeline.config import load_models
        from perf_pipeline.dashboard import write_dashboards

        models = load_models(storage.paths.models_file)
        with storage.get_connection() as con:
            result = write_dashboards(con, storage.paths, model, list(models.values()))
        context.log.info(f"{result.path}: {result.state}, {result.size_bytes:,} bytes")
        return dg.MaterializeResult(
            metadata={
                "dashboard": dg.MetadataValue.url(result.path.as_uri()),
                "index": dg.MetadataValue.url(result.index.as_uri()),
                "state": result.state,
                "open_alerts": dg.MetadataValue.int(result.open_alerts),
                "size_mb": dg.MetadataValue.float(round(result.size_bytes / 1e6, 3)),
                "build_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
            }
        )

    return dashboard
