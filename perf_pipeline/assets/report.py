"""`<model>/report`: the Evidently report of each usable day, a short page per blocked day."""

import dagster as dg

from perf_pipeline.assets.common import asset_key, daily_asset, day_list, file_url, run_days
from perf_pipeline.config import ModelConfig
from perf_pipeline.resources import PipelineStorage


def report_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @dg.asset(
        **daily_asset(
            model,
            "report",
            description=f"Evidently report of {model.model_id}, one standalone HTML file per "
            "day: data drift and the task's quality on the labelled rows. A blocked day gets "
            "a page naming its failed expectations.",
            kinds={"evidently", "html"},
            # After the alerts and the review queue as well, though it reads neither: a run's
            # reports (about a second of a core each) then never hold back what people are
            # told or asked to do; a run that includes them draws its reports last.
            deps=[
                asset_key(model.model_id, stage)
                for stage in (
                    "predictions",
                    "labels",
                    "data_quality",
                    "reference",
                    "performance",
                    "alerts",
                    "review",
                )
            ],
        )
    )
    def report(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        from perf_pipeline.assets.observations import record_day_facts
        from perf_pipeline.reports.daily import write_daily_reports

        with storage.get_connection() as con:
            written = write_daily_reports(con, storage.paths, model, run_days(context))
        facts = {day: {"report": file_url(path)} for day, path in written.reports.items()}
        facts |= {
            day: {"report": file_url(path), "blocked": 1} for day, path in written.blocked.items()
        }
        own = record_day_facts(context, facts)
        folder = storage.paths.reports / model.model_id
        dashboard = folder / "index.html"
        return dg.MaterializeResult(
            metadata={
                "reports": len(written.reports),
                "blocked_pages": day_list(written.blocked),
                "days_without_report": day_list(written.missing),
                "reports_folder": file_url(folder),
                **({"dashboard": file_url(dashboard)} if dashboard.exists() else {}),
                **own,
            }
        )

    return report
