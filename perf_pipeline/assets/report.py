"""`<model>/report`: the Evidently data-drift report of each usable day, as an HTML file."""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage


def report_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "report",
            description=f"Evidently data-drift report of {model.model_id}, one HTML file per day.",
            kinds={"evidently", "html"},
            deps=[
                asset_key(model.model_id, stage)
                for stage in ("predictions", "data_quality", "reference")
            ],
        )
    )
    def report(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        from perf_pipeline.reports.daily import write_daily_reports

        with storage.get_connection() as con:
            written = write_daily_reports(con, storage.paths, model, run_days(context))
        return dg.MaterializeResult(
            metadata={
                "reports": len(written),
                "latest_report": dg.MetadataValue.path(str(written[-1])) if written else "none",
            }
        )

    return report
