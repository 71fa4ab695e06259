"""`<model>/performance` and `<model>/drift`: the per-day tables, on the days the gate passed.

Each carries its regression checks (`regression_checks.py`), its column schema, and each day's
key numbers (`day_facts.py`): on the materialization of a one-day run, as an observation of
each day's partition in a longer one (`observations.py`).
"""

import dagster as dg

from perf_pipeline.assets.column_schemas import column_schema
from perf_pipeline.assets.common import asset_key, daily_asset, day_list, run_days
from perf_pipeline.assets.regression_checks import drift_check_specs, performance_check_specs
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage

DESCRIPTIONS = {
    "performance": "Metrics of {model} per day and segment: realized where labels arrived, "
    "estimated where they have not. One check per thresholded metric.",
    "drift": "Per-column drift of {model}'s inputs and outputs against its reference; the "
    "dataset_drift check fails on a day whose share of drifted columns reaches the threshold.",
}
UPSTREAM = {
    "performance": ("predictions", "labels", "data_quality", "reference"),
    "drift": ("predictions", "data_quality", "reference"),
}


def _check_specs(model: ModelConfig, table: str) -> list[dg.AssetCheckSpec]:
    key = asset_key(model.model_id, table)
    if table == "performance":
        return performance_check_specs(model, key)
    return drift_check_specs(key)


def table_asset(model: ModelConfig, table: str) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            table,
            description=DESCRIPTIONS[table].format(model=model.model_id),
            deps=[asset_key(model.model_id, stage) for stage in UPSTREAM[table]],
            check_specs=_check_specs(model, table),
            metadata=column_schema(model, table),
        ),
    )
    def _table(context: dg.AssetExecutionContext, storage: PipelineStorage):
        from perf_pipeline.assets.day_facts import drift_facts, performance_facts
        from perf_pipeline.assets.observations import record_day_facts
        from perf_pipeline.assets.regression_checks import (
            drift_check_results,
            performance_check_results,
        )
        from perf_pipeline.reports.blocked import blocked_reasons
        from perf_pipeline.stages.tables import write_table_days

        read_facts = performance_facts if table == "performance" else drift_facts
        judge = performance_check_results if table == "performance" else drift_check_results

        days = run_days(context)
        with storage.get_connection() as con:
            rows, blocked = write_table_days(con, storage.paths, model, table, days)
            usable = [d for d in days if d not in blocked]
            reasons = blocked_reasons(con, storage.paths, model.model_id, sorted(blocked))
            facts = read_facts(con, storage.paths, model, usable)
            checks = list(judge(con, storage.paths, model, context.asset_key, usable, reasons))
        own = record_day_facts(context, facts)
        yield dg.MaterializeResult(
            metadata={"rows": rows, "skipped_blocked_days": day_list(blocked), **own}
        )
        yield from checks

    return _table
