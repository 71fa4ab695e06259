"""The daily-partitioned assets of one model, generated from its entry in `models.yaml`.

Every asset of a model shares one partitions definition and a single-run backfill policy, so a
year's backfill is one run with one vectorized pass per table, not 365 runs. Every stage takes
the run's days (one for the schedule, many for a backfill) and treats them independently.
"""

import datetime as dt
from types import ModuleType

import dagster as dg
import pandas as pd

from perf_pipeline.alerts.records import write_alerts
from perf_pipeline.alerts.regressions import drift_alerts, performance_alerts
from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.log import write_ingest_log
from perf_pipeline.ingest.predictions import ingest_predictions
from perf_pipeline.lake import day_files, read_files_sql, write_frame_partitions
from perf_pipeline.quality.checks import gate_check_results, gate_check_specs
from perf_pipeline.quality.gate import assess_days, blocked_days, quality_alerts, write_quality_rows
from perf_pipeline.quality.label_checks import (
    LABELS_FILE,
    label_alerts,
    label_check_results,
    label_check_specs,
    label_quality_rows,
)
from perf_pipeline.reports.evidently_report import write_report
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.schemas import DATA_QUALITY
from perf_pipeline.tables import drift as drift_table
from perf_pipeline.tables import performance as performance_table
from perf_pipeline.tables.reference import materialize_reference, reference_frame
from perf_pipeline.views import refresh_views


def partitions_for(model: ModelConfig) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=model.start_date.isoformat(), timezone="UTC")


def run_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _day_list(days: list[dt.date] | set[dt.date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days)) or "none"


def key(model: ModelConfig, stage: str) -> dg.AssetKey:
    return dg.AssetKey([model.model_id, stage])


def build_model_assets(model: ModelConfig) -> list[dg.AssetsDefinition]:
    """Assets `<model_id>/<stage>`, grouped per model."""
    mid = model.model_id
    partitions = partitions_for(model)
    common = {
        "group_name": mid,
        "partitions_def": partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "kinds": {"duckdb", "parquet"},
    }

    @dg.asset(
        key=key(model, "reference"),
        group_name=mid,
        kinds={"duckdb", "parquet"},
        description=f"The baseline {mid} is compared with: its validation set, typed, "
        "with its metrics.",
    )
    def reference(
        context: dg.AssetExecutionContext, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        if model.reference.source == "trailing":
            return dg.MaterializeResult(
                metadata={"source": f"trailing window of {model.reference.days} production days"}
            )
        con = storage.connect()
        load = materialize_reference(con, storage.paths, model)
        metrics = performance_table.write_reference_performance(con, storage.paths, model)
        overall = metrics[(metrics["segment_column"] == "__all__") & ~metrics["is_estimated"]]
        return dg.MaterializeResult(
            metadata={
                "rows": load.rows_read,
                "files": load.files,
                **{
                    f"reference_{r.metric}": float(r.value)
                    for r in overall.itertuples()
                    if pd.notna(r.value)
                },
            }
        )

    @dg.asset(
        key=key(model, "predictions"),
        description=f"Accepted prediction logs of {mid}; "
        "rejected rows go to `quarantine` with a reason.",
        **common,
    )
    def predictions(
        context: dg.AssetExecutionContext, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        days = run_days(context)
        con = storage.connect()
        results = ingest_predictions(con, storage.paths, model, days)
        write_ingest_log(con, storage.paths, model, "predictions", results)
        refresh_views(storage.paths)
        for result in results.values():
            if result.load.error:
                context.log.error(f"{model.model_id} {result.load.day}: {result.load.error}")
        return dg.MaterializeResult(metadata=_accounting_metadata(results))

    @dg.asset(
        key=key(model, "labels"),
        deps=[predictions],
        check_specs=label_check_specs(key(model, "labels")),
        description=f"Ground truth of {mid}, filed by arrival day; the latest label per "
        "prediction wins.",
        **common,
    )
    def labels(context: dg.AssetExecutionContext, storage: PipelineStorage):
        days = run_days(context)
        con = storage.connect()
        paths = storage.paths
        results = ingest_labels(con, paths, model, days)
        write_ingest_log(con, paths, model, "labels", results)
        rows = label_quality_rows(model, results)
        frame = pd.DataFrame(rows, columns=list(DATA_QUALITY))
        write_frame_partitions(
            con, paths, "data_quality", mid, frame, DATA_QUALITY, days, LABELS_FILE
        )
        write_alerts(con, paths, mid, days, label_alerts(model, rows), "labels")
        refresh_views(paths)
        yield dg.MaterializeResult(metadata=_accounting_metadata(results))
        yield from label_check_results(key(model, "labels"), rows)

    @dg.asset(
        key=key(model, "data_quality"),
        deps=[predictions, reference],
        check_specs=gate_check_specs(model, key(model, "data_quality")),
        description=f"Great Expectations results for {mid}, one row per expectation and "
        "day. Error-severity failures block the day's downstream stages.",
        **common,
    )
    def data_quality(context: dg.AssetExecutionContext, storage: PipelineStorage):
        days = run_days(context)
        con = storage.connect()
        verdicts = assess_days(con, storage.paths, model, days)
        write_quality_rows(con, storage.paths, model, verdicts)
        write_alerts(con, storage.paths, mid, days, quality_alerts(model, verdicts), "data_quality")
        refresh_views(storage.paths)
        blocked = {d for d, v in verdicts.items() if v.blocked}
        if blocked:
            context.log.warning(f"{mid}: blocked at the data-quality gate: {_day_list(blocked)}")
        yield dg.MaterializeResult(
            metadata={
                "days": len(days),
                "blocked_days": _day_list(blocked),
                "blocked_count": len(blocked),
            }
        )
        yield from gate_check_results(model, key(model, "data_quality"), verdicts)

    @dg.asset(
        key=key(model, "performance"),
        deps=[predictions, labels, data_quality, reference],
        description=f"Metrics of {mid} per day and segment: realized where labels arrived, "
        "estimated where they have not.",
        **common,
    )
    def performance(
        context: dg.AssetExecutionContext, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        return _table_stage(context, storage, model, performance_table)

    @dg.asset(
        key=key(model, "drift"),
        deps=[predictions, data_quality, reference],
        description=f"Per-column drift of {mid}'s inputs and outputs against its reference.",
        **common,
    )
    def drift(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        return _table_stage(context, storage, model, drift_table)

    @dg.asset(
        key=key(model, "report"),
        deps=[predictions, data_quality, reference],
        description=f"Evidently data-drift report of {mid}, one HTML file per day.",
        kinds={"evidently", "html"},
        group_name=mid,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def report(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        days = run_days(context)
        con = storage.connect()
        paths = storage.paths
        blocked = blocked_days(con, paths, mid, days)
        written: list[str] = []
        fixed_reference = (
            reference_frame(con, paths, model) if model.reference.source == "file" else None
        )
        for day in days:
            target = paths.report_file(mid, day)
            files = day_files(paths, "predictions", mid, [day])
            current = con.execute(f"SELECT * FROM {read_files_sql(files)}").df() if files else None
            ref = (
                fixed_reference
                if fixed_reference is not None
                else reference_frame(con, paths, model, day)
            )
            if day in blocked or current is None or current.empty or ref is None or ref.empty:
                target.unlink(missing_ok=True)
                continue
            written.append(str(write_report(model, day, current, ref, paths.reports, target)))
        return dg.MaterializeResult(
            metadata={
                "reports": len(written),
                "latest_report": dg.MetadataValue.path(written[-1]) if written else "none",
            }
        )

    @dg.asset(
        key=key(model, "alerts"),
        deps=[performance, drift],
        description=f"Regressions of "
        f"{mid}: metrics past their bounds, drift share above its maximum.",
        **common,
    )
    def alerts(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        days = run_days(context)
        con = storage.connect()
        paths = storage.paths
        raised = []
        perf = _read_days(con, paths, "performance", mid, days)
        drift_rows = _read_days(con, paths, "drift", mid, days)
        for day in days:
            baseline = performance_table.baseline_values(con, paths, model, day)
            if perf is not None:
                raised += performance_alerts(model, day, perf[perf["date"] == day], baseline)
            if drift_rows is not None:
                raised += drift_alerts(model, day, drift_rows[drift_rows["date"] == day])
        write_alerts(con, paths, mid, days, raised, "regressions")
        refresh_views(paths)
        for alert in raised:
            context.log.warning(alert.message)
        return dg.MaterializeResult(metadata={"alerts": len(raised)})

    return [reference, predictions, labels, data_quality, performance, drift, report, alerts]


def _table_stage(
    context: dg.AssetExecutionContext,
    storage: PipelineStorage,
    model: ModelConfig,
    table: ModuleType,
) -> dg.MaterializeResult:
    """A per-day table (`performance`, `drift`): computed on the days the gate let through,
    written for every day of the run so a day blocked now keeps no rows from an earlier run."""
    days = run_days(context)
    con = storage.connect()
    blocked = blocked_days(con, storage.paths, model.model_id, days)
    usable = [d for d in days if d not in blocked]
    frame = table.compute_days(con, storage.paths, model, usable)
    written = table.write_days(con, storage.paths, model, days, frame)
    refresh_views(storage.paths)
    return dg.MaterializeResult(
        metadata={"rows": sum(written.values()), "skipped_blocked_days": _day_list(blocked)}
    )


def _read_days(con, paths, table: str, model_id: str, days: list[dt.date]) -> pd.DataFrame | None:
    files = day_files(paths, table, model_id, days)
    if not files:
        return None
    frame = con.execute(f"SELECT * FROM {read_files_sql(files)}").df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def _accounting_metadata(results) -> dict:
    read = sum(r.load.rows_read for r in results.values())
    accepted = sum(r.accepted for r in results.values())
    quarantined = sum(r.quarantined for r in results.values())
    failed = {d: r.load.error for d, r in results.items() if r.load.error}
    notable = [
        f"| {d} | {r.load.rows_read} | {r.accepted} | {r.quarantined} | "
        f"{', '.join(f'{k}: {v}' for k, v in (r.reasons or {}).items()) or (r.load.error or '')} |"
        for d, r in sorted(results.items())
        if r.quarantined or r.load.error or r.load.rows_read == 0
    ]
    table = (
        "| day | read | accepted | quarantined | reasons / error |\n|---|---|---|---|---|\n"
        + "\n".join(notable)
    )
    return {
        "rows_read": read,
        "rows_accepted": accepted,
        "rows_quarantined": quarantined,
        "balanced": read == accepted + quarantined,
        "days": len(results),
        "failed_days": _day_list(set(failed)),
        "notable_days": dg.MetadataValue.md(table if notable else "every day clean"),
    }
