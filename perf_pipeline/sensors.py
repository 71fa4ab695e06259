"""Sensors: new alerts become notification runs; stale models and failed runs are reported too.

The alerts sensor reads the event log with its own cursor per asset instead of using
`@asset_sensor`, which sees only the latest event per tick: a backfill materializes many
partitions at once, and every one of them may carry alerts. It watches every asset tagged
`perf_pipeline/produces_alerts` (a data engineer's own asset included), not a list of names.
"""

import datetime as dt
import json

import dagster as dg

from perf_pipeline.alerts.notify import append_records, notify_alerts
from perf_pipeline.assets.common import PRODUCES_ALERTS_TAG, asset_key
from perf_pipeline.names import dagster_name
from perf_pipeline.resources import PipelineStorage

PAGE = 1000
# A channel that refused a batch is tried again this long after its latest failure.
RETRY_FAILED_AFTER = dt.timedelta(minutes=5)
ALERT_PRODUCERS = dg.AssetSelection.tag(PRODUCES_ALERTS_TAG, "true")


def _new_partitions(
    context: dg.SensorEvaluationContext, keys: list[dg.AssetKey], cursors: dict[str, int]
) -> set[tuple[str, dt.date]]:
    """(model id, day) of every partition of `keys` materialized since the cursors."""
    touched: set[tuple[str, dt.date]] = set()
    for key in keys:
        name = key.to_user_string()
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursors.get(name, 0)),
            limit=PAGE,
            ascending=True,
        ).records
        for record in records:
            cursors[name] = max(cursors.get(name, 0), record.storage_id)
            day = partition_day(record.partition_key)
            if day is not None:
                touched.add((key.path[0], day))
    return touched


def partition_day(partition_key: str | None) -> dt.date | None:
    """The day of a daily partition; None for an unpartitioned or otherwise partitioned asset
    (a user's tagged asset may be weekly or static: its alerts are found by their own days)."""
    try:
        return dt.date.fromisoformat(partition_key) if partition_key else None
    except ValueError:
        return None


def _alerts_of(storage: PipelineStorage, touched: set[tuple[str, dt.date]]) -> list[dict[str, str]]:
    """`alert_id` and `model_id` of the alerts stored for these (model, day) partitions."""
    from perf_pipeline.lake import day_files, read_files_sql

    found: list[dict[str, str]] = []
    with storage.get_connection() as con:
        for model_id in sorted({m for m, _ in touched}):
            days = sorted(d for m, d in touched if m == model_id)
            files = day_files(storage.paths, "alerts", model_id, days)
            if files:
                query = f"SELECT DISTINCT alert_id FROM {read_files_sql(files)}"
                found += [
                    {"alert_id": r[0], "model_id": model_id} for r in con.execute(query).fetchall()
                ]
    return found


@dg.sensor(
    name="alerts_sensor",
    job=notify_alerts,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends every new alert once to every channel, for every partition materialized "
    f"by an asset tagged {PRODUCES_ALERTS_TAG}; retries a channel that refused a batch "
    f"{int(RETRY_FAILED_AFTER.total_seconds() // 60)} minutes after its latest failure.",
)
def alerts_sensor(context: dg.SensorEvaluationContext, storage: PipelineStorage):
    from perf_pipeline.alerts.delivery import failed_attempts_due, pending_ids

    cursors: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    keys = sorted(ALERT_PRODUCERS.resolve(context.repository_def.asset_graph))
    touched = _new_partitions(context, keys, cursors)
    context.update_cursor(json.dumps(cursors, sort_keys=True))
    fresh = pending_ids(storage.paths, _alerts_of(storage, touched)) if touched else []
    now = dt.datetime.now(dt.UTC)
    retry, failed_at = failed_attempts_due(storage.paths, now, RETRY_FAILED_AFTER)
    ids = sorted(set(fresh) | set(retry))
    if not ids:
        return dg.SkipReason(
            f"{len(touched)} new partition(s), nothing pending"
            if touched
            else "no new materializations of alert-producing assets, no failed delivery due"
        )
    return dg.RunRequest(
        run_key=f"alerts-{'-'.join(str(v) for v in sorted(cursors.values()))}-{failed_at}",
        run_config=dg.RunConfig(ops={"send_alerts": {"config": {"alert_ids": ids}}}),
        tags={"perf_pipeline/alerts": str(len(fresh)), "perf_pipeline/retries": str(len(retry))},
    )


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


def _latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].storage_id if records else 0


def _stale_prediction_days(
    context: dg.SensorEvaluationContext,
    storage: PipelineStorage,
    model_id: str,
    arrivals: dict[str, int],
) -> list[str]:
    """Prediction days whose performance was computed before labels for them arrived."""
    from perf_pipeline.lake import day_files, read_files_sql

    days = [dt.date.fromisoformat(p) for p in arrivals]
    files = day_files(storage.paths, "labels", model_id, days)
    if not files:
        return []
    with storage.get_connection() as con:
        pairs = con.execute(
            "SELECT DISTINCT CAST(arrival_date AS VARCHAR), CAST(prediction_date AS VARCHAR) "
            f"FROM {read_files_sql(files)} WHERE prediction_date IS NOT NULL"
        ).fetchall()
    performance = asset_key(model_id, "performance")
    return sorted(
        {
            predicted
            for arrived, predicted in pairs
            if _latest_storage_id(context.instance, performance, predicted)
            < arrivals.get(arrived, 0)
        }
    )


def build_late_labels_sensor(model_id: str, job_name: str) -> dg.SensorDefinition:
    """Recompute past days' performance when their labels land, so realized metrics converge.

    A labels partition (an arrival day) carries the prediction day of every label. A prediction
    day whose performance was last computed before those labels arrived is stale; the stale days
    are recomputed, with their alerts, in one run over their range.
    """
    labels_key = asset_key(model_id, "labels")
    targets = [asset_key(model_id, "performance"), asset_key(model_id, "alerts")]

    @dg.sensor(
        name=f"{dagster_name(model_id)}__late_labels",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Recomputes {model_id}'s performance for past days when their labels arrive.",
    )
    def late_labels(context: dg.SensorEvaluationContext, storage: PipelineStorage):
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=labels_key, after_storage_id=int(context.cursor or 0)),
            limit=PAGE,
            ascending=True,
        ).records
        if not records:
            return dg.SkipReason("no new labels")
        context.update_cursor(str(records[-1].storage_id))
        arrivals = {r.partition_key: r.storage_id for r in records if r.partition_key}
        stale = _stale_prediction_days(context, storage, model_id, arrivals)
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
