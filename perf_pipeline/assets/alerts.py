"""`<model>/alerts`: the day's regressions, written for the alerts sensor to send."""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage


def alerts_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "alerts",
            description=f"Regressions of {model.model_id}: metrics past their bounds, drift "
            "share above its maximum.",
            produces_alerts=True,
            deps=[asset_key(model.model_id, stage) for stage in ("performance", "drift")],
        )
    )
    def alerts(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        from perf_pipeline.alerts.evaluate import evaluate_days

        with storage.get_connection() as con:
            raised = evaluate_days(con, storage.paths, model, run_days(context))
        for alert in raised:
            context.log.warning(alert.message)
        return dg.MaterializeResult(metadata={"alerts": len(raised)})

    return alerts
