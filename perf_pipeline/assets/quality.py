"""`<model>/data_quality`: the gate, one Dagster asset check per expectation."""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, day_list, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.quality.checks import gate_check_specs
from perf_pipeline.resources import PipelineStorage


def data_quality_asset(model: ModelConfig) -> dg.AssetsDefinition:
    key = asset_key(model.model_id, "data_quality")

    @dg.asset(
        **daily_asset(
            model,
            "data_quality",
            description=f"Great Expectations results for {model.model_id}, one row per "
            "expectation and day. Error-severity failures block the day: its downstream stages "
            "skip it and its earlier downstream outputs are cleared.",
            produces_alerts=True,
            deps=[asset_key(model.model_id, "predictions"), asset_key(model.model_id, "reference")],
            check_specs=gate_check_specs(model, key),
        )
    )
    def data_quality(context: dg.AssetExecutionContext, storage: PipelineStorage):
        from perf_pipeline.quality.checks import gate_check_results
        from perf_pipeline.stages.gate import run_gate

        days = run_days(context)
        with storage.get_connection() as con:
            verdicts = run_gate(con, storage.paths, model, days)
        blocked = {d for d, v in verdicts.items() if v.blocked}
        if blocked:
            context.log.warning(
                f"{model.model_id}: blocked at the data-quality gate, downstream outputs "
                f"cleared: {day_list(blocked)}"
            )
        yield dg.MaterializeResult(
            metadata={
                "days": len(days),
                "blocked_days": day_list(blocked),
                "blocked_count": len(blocked),
            }
        )
        yield from gate_check_results(model, key, verdicts)

    return data_quality
