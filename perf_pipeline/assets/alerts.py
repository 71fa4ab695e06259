"""`<model>/alerts`: the day's regressions and estimator checks, written for the alerts sensor
to send."""

from collections import Counter

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, day_list, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage


def alerts_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "alerts",
            description=f"Regressions of {model.model_id}: metrics past their bounds (realized "
            "on final days, estimated before), drift share above its maximum; the estimates "
            "held to the final realized values (`estimation_quality`, `estimator_quality` "
            "alerts).",
            produces_alerts=True,
            deps=[asset_key(model.model_id, stage) for stage in ("performance", "drift")],
        )
    )
    def alerts(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        from perf_pipeline.alerts.evaluate import closing_days, evaluate_days

        days = run_days(context)
        closing = closing_days(storage.paths, model, days)
        with storage.get_connection() as con:
            raised = evaluate_days(con, storage.paths, model, [*days, *closing])
        for settled in raised:
            context.log.warning(f"{settled.alert.message} [{settled.status}]")
        _log_closing_days(context, closing)
        statuses = Counter(f"{s.alert.kind}:{s.status}" for s in raised)
        return dg.MaterializeResult(
            metadata={
                "alerts": len(raised),
                "by_kind_and_status": dict(sorted(statuses.items())),
                "closing_days": day_list(closing),
            }
        )

    return alerts


def _log_closing_days(context: dg.AssetExecutionContext, closing: list) -> None:
    """Days re-judged because their label delay ran out are materializations of their own
    partitions, so the alerts sensor sends what they now raise."""
    for day in closing:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=day.isoformat(),
                description="Re-judged: its label delay ran out, its realized numbers are final.",
            )
        )
