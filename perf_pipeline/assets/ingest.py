"""`<model>/predictions` and `<model>/labels`: the landing zone read into the lake.

Every row read ends in the table or in `quarantine`; the accounting is the asset's metadata.
"""

import dagster as dg

from perf_pipeline.assets.column_schemas import column_schema
from perf_pipeline.assets.common import asset_key, daily_asset, run_days
from perf_pipeline.assets.metadata import accounting_metadata, day_accounting
from perf_pipeline.config import ModelConfig
from perf_pipeline.quality.label_checks import label_check_specs
from perf_pipeline.resources import PipelineStorage


def log_landing_problems(
    context: dg.AssetExecutionContext, model: ModelConfig, results: dict
) -> None:
    """Unreadable files as errors, skipped paths as warnings, and each day re-read beyond the
    run as a materialization of its own partition: the sensors that react to new predictions
    or labels (dependent days, late labels, alerts) then see that day changed."""
    days = set(run_days(context))
    for day, result in sorted(results.items()):
        if result.load.error:
            context.log.error(f"{model.model_id} {day}: {result.load.error}")
        for skipped in result.load.skipped:
            context.log.warning(f"{model.model_id} {day}: skipped {skipped.path}: {skipped.why}")
        if day not in days:
            context.log.warning(f"{model.model_id} {day}: re-read (outside the run's days)")
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=day.isoformat(),
                    description="Re-read while ingesting other days: its rows changed.",
                    metadata={
                        "rows_read": result.load.rows_read,
                        "rows_accepted": result.accepted,
                        "rows_quarantined": result.quarantined,
                    },
                )
            )


def predictions_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "predictions",
            description=f"Accepted prediction logs of {model.model_id}; "
            "rejected rows go to `quarantine` with a reason.",
            metadata=column_schema(model, "predictions"),
        )
    )
    def predictions(
        context: dg.AssetExecutionContext, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        from perf_pipeline.stages.ingest import ingest_prediction_days

        with storage.get_connection() as con:
            results = ingest_prediction_days(con, storage.paths, model, run_days(context))
        log_landing_problems(context, model, results)
        return dg.MaterializeResult(
            metadata={**accounting_metadata(results), **day_accounting(context, results)}
        )

    return predictions


def labels_asset(model: ModelConfig) -> dg.AssetsDefinition:
    key = asset_key(model.model_id, "labels")

    @dg.asset(
        **daily_asset(
            model,
            "labels",
            description=f"Ground truth of {model.model_id}, filed by arrival day; the latest "
            "label per prediction wins. Also keeps `label_lag` (how fast labels arrive, per "
            "prediction day) for the days its arrivals touch.",
            produces_alerts=True,
            deps=[asset_key(model.model_id, "predictions")],
            check_specs=label_check_specs(key),
            metadata=column_schema(model, "labels"),
        )
    )
    def labels(context: dg.AssetExecutionContext, storage: PipelineStorage):
        from perf_pipeline.quality.label_checks import label_check_results
        from perf_pipeline.stages.ingest import ingest_label_days
        from perf_pipeline.tables.label_lag import write_label_lag
        from perf_pipeline.views import refresh_views

        days = run_days(context)
        with storage.get_connection() as con:
            results, rows = ingest_label_days(con, storage.paths, model, days)
            # Every arrival day the ingest wrote, re-read ones included, moves the profile.
            lag = write_label_lag(con, storage.paths, model, [*days, *results])
        refresh_views(storage.paths)
        log_landing_problems(context, model, results)
        own = day_accounting(context, results)
        yield dg.MaterializeResult(metadata={**accounting_metadata(results), **lag, **own})
        # The checks judge the run's own days; re-checked earlier arrivals are in the metadata.
        yield from label_check_results(key, [r for r in rows if r["date"] in set(days)])

    return labels
