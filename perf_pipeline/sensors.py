"""Sensors: new alerts become notification runs; stale models and failed runs are reported too.

The alerts sensor reads the event log with its own cursor per asset instead of using
`@asset_sensor`, which sees only the latest event per tick: a backfill materializes many
partitions at once, and every one of them may carry alerts. It watches every asset tagged
`perf_pipeline/produces_alerts` (a data engineer's own asset included), not a list of names.

It also tells a backfill from the daily flow, by the run that wrote each partition: a run
launched by hand (the CLI, the UI, `dg launch`) over more than one day, a Dagster backfill, or a
run of one day older than a day already materialized is a backfill, and its alerts go out as one
digest per model and run; the scheduled daily run and the sensors' runs (late labels, dependent
days) are the daily flow, and each of their new alerts is sent on its own.
"""

import datetime as dt
import json
from collections.abc import Sequence

import dagster as dg

from perf_pipeline.alerts.notify import append_records, notify_alerts
from perf_pipeline.assets.common import PRODUCES_ALERTS_TAG, asset_key
from perf_pipeline.names import dagster_name
from perf_pipeline.resources import PipelineStorage

PAGE = 1000
# A channel that refused a batch is tried again this long after its latest failure.
RETRY_FAILED_AFTER = dt.timedelta(minutes=5)
ALERT_PRODUCERS = dg.AssetSelection.tag(PRODUCES_ALERTS_TAG, "true")


Touched = dict[tuple[str, dt.date], set[str]]  # (model id, day) -> the runs that wrote it


def _new_partitions(
    context: dg.SensorEvaluationContext, keys: list[dg.AssetKey], cursors: dict[str, int]
) -> tuple[Touched, set[str]]:
    """(model id, day) of every partition of `keys` materialized since the cursors, with the
    runs that wrote it; and the runs that are backfills."""
    touched: Touched = {}
    backfills: set[str] = set()
    for key in keys:
        name = key.to_user_string()
        records = materializations_after(context.instance, key, cursors.get(name, 0))
        first_of_run: dict[str, int] = {}
        for record in records:
            cursors[name] = max(cursors.get(name, 0), record.storage_id)
            day = partition_day(record.partition_key)
            if day is not None:
                touched.setdefault((key.path[0], day), set()).add(record.run_id)
                first_of_run.setdefault(record.run_id, record.storage_id)
        backfills |= {
            run_id
            for run_id, first in first_of_run.items()
            if is_backfill_run(context.instance, run_id, key, first)
        }
    return touched, backfills


_LAUNCHED_BY_AUTOMATION = ("dagster/sensor_name", "dagster/schedule_name")


def is_backfill_run(
    instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey, first_storage_id: int
) -> bool:
    """Whether a run that materialized `key` is a backfill: launched by hand (or as a Dagster
    backfill) over more than one day, or over one day older than a day of `key` materialized
    before it. Scheduled and sensor-launched runs never are: they are the daily flow."""
    run = instance.get_run_by_id(run_id)
    if run is None or any(tag in run.tags for tag in _LAUNCHED_BY_AUTOMATION):
        return False
    if "dagster/backfill" in run.tags:
        return True
    start = run.tags.get("dagster/asset_partition_range_start")
    end = run.tags.get("dagster/asset_partition_range_end")
    if start and end and start != end:
        return True
    day = partition_day(run.tags.get("dagster/partition") or start)
    if day is None:
        return False
    earlier = instance.get_materialized_partitions(key, before_cursor=first_storage_id)
    return any((d := partition_day(p)) is not None and d > day for p in earlier)


def materializations_after(
    instance: dg.DagsterInstance, key: dg.AssetKey, storage_id: int
) -> Sequence[dg.EventLogRecord]:
    """A page of the asset's materializations after `storage_id` (a sensor's cursor), oldest
    first, so a cursor moved to the last one never skips a partition."""
    return instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=storage_id),
        limit=PAGE,
        ascending=True,
    ).records


def partition_day(partition_key: str | None) -> dt.date | None:
    """The day of a daily partition; None for an unpartitioned or otherwise partitioned asset
    (a user's tagged asset may be weekly or static: its alerts are found by their own days)."""
    try:
        return dt.date.fromisoformat(partition_key) if partition_key else None
    except ValueError:
        return None


def _alerts_of(storage: PipelineStorage, touched: set[tuple[str, dt.date]]) -> list[dict]:
    """`alert_id`, `model_id` and `date` of the alerts stored for these partitions; rebuilds
    those models' `incidents` on the way (a clean day can resolve one without any alert)."""
    from perf_pipeline.alerts.incidents import refresh_incidents
    from perf_pipeline.lake import day_files, read_files_sql

    found: list[dict] = []
    with storage.get_connection() as con:
        models = sorted({m for m, _ in touched})
        for model_id in models:
            days = sorted(d for m, d in touched if m == model_id)
            files = day_files(storage.paths, "alerts", model_id, days)
            if files:
                # With its severity, so a `min_severity` channel is not owed what it filters out.
                query = f"SELECT DISTINCT alert_id, date, severity FROM {read_files_sql(files)}"
                found += [
                    {"alert_id": a, "model_id": model_id, "date": d, "severity": s}
                    for a, d, s in con.execute(query).fetchall()
                ]
        refresh_incidents(con, storage.paths, models)
    return found


def _digests(found: list[dict], touched: Touched, backfills: set[str]) -> dict[str, str]:
    """Alert id -> the backfill run that raised it, for alerts whose partition only backfill
    runs wrote this tick (a partition the daily flow also wrote is sent alert by alert)."""
    digests = {}
    for alert in found:
        runs = touched.get((alert["model_id"], alert["date"]), set())
        if runs and runs <= backfills:
            digests[alert["alert_id"]] = max(runs)
    return digests


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
    touched, backfills = _new_partitions(context, keys, cursors)
    context.update_cursor(json.dumps(cursors, sort_keys=True))
    found = _alerts_of(storage, set(touched)) if touched else []
    fresh = pending_ids(storage.paths, found) if found else []
    digests = {a: run for a, run in _digests(found, touched, backfills).items() if a in fresh}
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
        run_config=dg.RunConfig(
            ops={"send_alerts": {"config": {"alert_ids": ids, "digests": digests}}}
        ),
        tags={
            "perf_pipeline/alerts": str(len(fresh)),
            "perf_pipeline/retries": str(len(retry)),
            "perf_pipeline/digest_alerts": str(len(digests)),
        },
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
        records = materializations_after(context.instance, labels_key, int(context.cursor or 0))
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
