"""`<model>/performance` and `<model>/drift`: the per-day tables, on the days the gate passed."""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, day_list, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage

DESCRIPTIONS = {
    "performance": "Metrics of {model} per day and segment: realized where labels arrived, "
    "estimated where they have not.",
    "drift": "Per-column drift of {model}'s inputs and outputs against its reference.",
}
UPSTREAM = {
    "performance": ("predictions", "labels", "data_quality", "reference"),
    "drift": ("predictions", "data_quality", "reference"),
}


def table_asset(model: ModelConfig, table: str) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            table,
            description=DESCRIPTIONS[table].format(model=model.model_id),
            deps=[asset_key(model.model_id, stage) for stage in UPSTREAM[table]],
        ),
    )
    def _table(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        from perf_pipeline.stages.tables import write_table_days

        with storage.get_connection() as con:
            rows, blocked = write_table_days(con, storage.paths, model, table, run_days(context))
        return dg.MaterializeResult(
            metadata={"rows": rows, "skipped_blocked_days": day_list(blocked)}
        )

    return _table
