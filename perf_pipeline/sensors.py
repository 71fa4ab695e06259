"""Sensors: new alerts become notification runs; failed runs are reported too.

The alerts sensor reads the event log with its own cursor per asset instead of using
`@asset_sensor`, which sees only the latest event per tick: a backfill materializes many
partitions at once, and every one of them may carry alerts.
"""

import datetime as dt
import json

import dagster as dg

from perf_pipeline.alerts.notify import append_records, notified_ids, notify_alerts
from perf_pipeline.lake import connect, day_files, read_files_sql
from perf_pipeline.resources import PipelineStorage

PAGE = 1000


def build_alerts_sensor(alert_asset_keys: list[dg.AssetKey]) -> dg.SensorDefinition:
    @dg.sensor(
        name="alerts_sensor",
        job=notify_alerts,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends every new alert once, for every partition materialized.",
    )
    def alerts_sensor(context: dg.SensorEvaluationContext, storage: PipelineStorage):
        cursors: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        touched: set[tuple[str, dt.date]] = set()
        for asset_key in alert_asset_keys:
            name = asset_key.to_user_string()
            result = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=cursors.get(name, 0)),
                limit=PAGE,
                ascending=True,
            )
            for record in result.records:
                cursors[name] = max(cursors.get(name, 0), record.storage_id)
                if record.partition_key:
                    touched.add((asset_key.path[0], dt.date.fromisoformat(record.partition_key)))
        context.update_cursor(json.dumps(cursors, sort_keys=True))
        if not touched:
            return dg.SkipReason("no new materializations of alert-producing assets")
        paths = storage.paths
        con = connect()
        ids: set[str] = set()
        for model_id in {m for m, _ in touched}:
            files = day_files(
                paths, "alerts", model_id, sorted(d for m, d in touched if m == model_id)
            )
            if files:
                ids |= {
                    r[0]
                    for r in con.execute(f"SELECT alert_id FROM {read_files_sql(files)}").fetchall()
                }
        fresh = sorted(ids - notified_ids(paths.alerts_log))
        if not fresh:
            return dg.SkipReason(f"{len(touched)} partition(s) checked, no new alert")
        return dg.RunRequest(
            run_key=f"alerts-{'-'.join(str(v) for v in sorted(cursors.values()))}",
            run_config=dg.RunConfig(ops={"send_alerts": {"config": {"alert_ids": fresh}}}),
            tags={"perf_pipeline/alerts": str(len(fresh))},
        )

    return alerts_sensor


@dg.run_failure_sensor(
    name="run_failure_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes every failed run to alerts/alerts.jsonl, beside the alerts.",
)
def run_failure_sensor(context: dg.RunFailureSensorContext, storage: PipelineStorage) -> None:
    run = context.dagster_run
    append_records(
        storage.paths.alerts_log,
        [
            {
                "kind": "run_failure",
                "run_id": run.run_id,
                "job_name": run.job_name,
                "message": context.failure_event.message,
                "notified_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        ],
    )


def _latest_storage_id(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].storage_id if records else 0


def build_late_labels_sensor(model_id: str, job_name: str) -> dg.SensorDefinition:
    """Recompute past days' performance when their labels land, so realized metrics converge.

    A labels partition (an arrival day) carries the prediction day of every label. A prediction
    day whose performance was last computed before those labels arrived is stale; the stale days
    are recomputed, with their alerts, in one run over their range.
    """
    labels_key = dg.AssetKey([model_id, "labels"])
    performance_key = dg.AssetKey([model_id, "performance"])
    targets = [performance_key, dg.AssetKey([model_id, "alerts"])]

    @dg.sensor(
        name=f"{model_id}__late_labels",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Recomputes {model_id}'s performance for past days when their labels arrive.",
    )
    def late_labels(context: dg.SensorEvaluationContext, storage: PipelineStorage):
        after = int(context.cursor or 0)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=labels_key, after_storage_id=after),
            limit=PAGE,
            ascending=True,
        ).records
        if not records:
            return dg.SkipReason("no new labels")
        context.update_cursor(str(records[-1].storage_id))
        arrivals = {r.partition_key: r.storage_id for r in records if r.partition_key}
        files = day_files(
            storage.paths, "labels", model_id, [dt.date.fromisoformat(p) for p in arrivals]
        )
        if not files:
            return dg.SkipReason("the new labels partitions hold no labels")
        con = connect()
        pairs = con.execute(
            f"SELECT DISTINCT CAST(arrival_date AS VARCHAR), CAST(prediction_date AS VARCHAR) "
            f"FROM {read_files_sql(files)} WHERE prediction_date IS NOT NULL"
        ).fetchall()
        stale = sorted(
            {
                predicted
                for arrived, predicted in pairs
                if _latest_storage_id(context.instance, performance_key, predicted)
                < arrivals.get(arrived, 0)
            }
        )
        if not stale:
            return dg.SkipReason("performance of every labelled day is already up to date")
        return dg.RunRequest(
            run_key=f"{model_id}-late-labels-{records[-1].storage_id}",
            asset_selection=targets,
            tags={
                "dagster/asset_partition_range_start": stale[0],
                "dagster/asset_partition_range_end": stale[-1],
                "perf_pipeline/late_label_days": str(len(stale)),
            },
        )

    return late_labels
