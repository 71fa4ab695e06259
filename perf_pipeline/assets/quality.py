"""`<model>/data_quality`: the gate, one Dagster asset check per expectation."""

import dagster as dg

from perf_pipeline.assets.column_schemas import column_schema
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
            metadata=column_schema(model, "data_quality"),
        )
    )
    def data_quality(context: dg.AssetExecutionContext, storage: PipelineStorage):
        from perf_pipeline.assets.observations import observe_blocked_days, record_day_facts
        from perf_pipeline.assets.regression_checks import blocked_check_evaluations
        from perf_pipeline.quality.checks import gate_check_results
        from perf_pipeline.stages.gate import run_gate

        days = run_days(context)
        with storage.get_connection() as con:
            verdicts = run_gate(con, storage.paths, model, days)
            blocked = sorted(d for d, v in verdicts.items() if v.blocked)
            reasons = _speak_for_blocked_days(con, storage.paths, model, blocked)
        if blocked:
            context.log.warning(
                f"{model.model_id}: blocked at the data-quality gate, downstream outputs "
                f"cleared: {day_list(blocked)}"
            )
        observe_blocked_days(context, model, reasons)
        failed = {d: sum(not r["success"] for r in v.rows) for d, v in verdicts.items()}
        facts = {
            d: {"failed_expectations": n, "blocked": int(d in reasons)} for d, n in failed.items()
        }
        results = list(gate_check_results(model, key, verdicts))
        if any(not r.passed and r.severity == dg.AssetCheckSeverity.ERROR for r in results):
            # The failed blocking check stops this run's downstream steps, and with them their
            # regression checks: those checks say here why the days were not judged.
            for evaluation in blocked_check_evaluations(model, reasons):
                context.log_event(evaluation)
        yield dg.MaterializeResult(
            metadata={
                "days": len(days),
                "blocked_days": day_list(blocked),
                "blocked_count": len(blocked),
                **record_day_facts(context, facts),
            }
        )
        yield from results

    return data_quality


def _speak_for_blocked_days(con, paths, model: ModelConfig, blocked: list) -> dict:
    """A page at each blocked day's report path (the gate just cleared its report, and in a
    daily run the report step will not run), and each day's reason, for the downstream
    partitions and checks."""
    from perf_pipeline.reports.blocked import blocked_reasons, write_blocked_pages

    write_blocked_pages(con, paths, model, blocked)
    return blocked_reasons(con, paths, model.model_id, blocked)
