"""`<model>/review`: the day's review queue, and the labels people sent back.

Runs after `performance` and `drift` (the regressed-segment and drifted-feature strata read
them). Each run also ingests whatever changed in `<data root>/review/returned/<model>/`, so a
filled-in file dropped there is read by the next daily run; the review days it touched outside
the run are recorded as materializations of their own partitions.
"""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, day_list, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage


def _log_returned(context: dg.AssetExecutionContext, model: ModelConfig, outcome) -> None:
    returned = outcome.returned
    for error in returned.errors:
        context.log.error(f"{model.model_id} review file not read: {error}")
    for skipped in returned.skipped:
        context.log.warning(f"{model.model_id} review file skipped: {skipped}")
    run = set(run_days(context))
    for day in returned.days:
        if day not in run:
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=day.isoformat(),
                    description="Returned review labels ingested: its review metric changed.",
                    metadata={
                        "review_labels": returned.accepted.get(day, 0),
                        "quarantined": returned.quarantined.get(day, 0),
                    },
                )
            )


def review_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "review",
            description=f"Review queue of {model.model_id}: up to `review.per_day` predictions "
            "a day for a person to label (least confident, regressed segments and drifted "
            "features, a uniform sample), as `review/<model>/<day>.csv`; returned files become "
            "`review_labels` (source 'review') and `review_accuracy` on the uniform sample.",
            kinds={"duckdb", "csv"},
            deps=[
                asset_key(model.model_id, stage)
                for stage in ("predictions", "data_quality", "performance", "drift")
            ],
        )
    )
    def review(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        from perf_pipeline.review.stage import run_review

        with storage.get_connection() as con:
            outcome = run_review(con, storage.paths, model, run_days(context))
        _log_returned(context, model, outcome)
        returned = outcome.returned
        accuracy = outcome.accuracy.dropna(subset=["value"])
        metadata = {
            "sampled_rows": sum(outcome.sampled.values()),
            "skipped_blocked_days": day_list(outcome.blocked),
            "returned_days_ingested": day_list(returned.days),
            "review_labels_accepted": sum(returned.accepted.values()),
            "review_labels_quarantined": sum(returned.quarantined.values()),
            "returned_files_unreadable": len(returned.errors),
        }
        if not accuracy.empty:
            latest = accuracy.sort_values("date").iloc[-1]
            metadata[str(latest["metric"])] = float(latest["value"])
            metadata["review_metric_n"] = int(latest["n"])
        return dg.MaterializeResult(metadata=metadata)

    return review
