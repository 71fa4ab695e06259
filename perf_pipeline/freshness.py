"""Freshness: a model whose daily `performance` has not landed by a set hour is stale.

Dagster's time-partition freshness check on `<model>/performance` turns red once the deadline
(`0 <hour> * * *`, UTC) has passed without the previous day's partition; its own sensor evaluates
it. A stale model also raises an alert: the freshness-alerts sensor reads the check's latest
result and, when it failed, writes a `freshness` alert for the missing day (its own file in the
day's `alerts` partition, so the stages' writers never erase it) and sends it once.

Dagster marks these check builders superseded by a `FreshnessPolicy` on the asset, but the
policies (`time_window`, `cron`) judge the asset's latest materialization of any partition,
not whether the expected day's partition exists: the late-labels and dependent-days sensors
re-run older days all the time, and each re-run would make a model whose yesterday never landed
look fresh. They are also judged by the freshness daemon alone, with no missing day to alert
on. The partition check says what is late; it stays until a policy can.
"""

import datetime as dt

import dagster as dg

from perf_pipeline.alerts.delivery import pending_ids
from perf_pipeline.alerts.severity import CRITICAL
from perf_pipeline.assets.common import asset_key
from perf_pipeline.names import dagster_name
from perf_pipeline.resources import PipelineStorage

DEFAULT_DEADLINE_HOUR_UTC = 6
FRESHNESS_CHECK = "freshness_check"
FRESHNESS_WRITER = "freshness"
LATEST_CRON_TICK = "dagster/latest_cron_tick_timestamp"
# The notification job (in the shared definitions); named, so a model's definitions carry no
# copy of it and merge cleanly however many models there are.
NOTIFY_JOB = "notify_alerts"


def freshness_checks(model_id: str, deadline_hour_utc: int) -> list[dg.AssetChecksDefinition]:
    """Red when yesterday's `performance` partition is missing after `deadline_hour_utc`."""
    return list(
        dg.build_time_partition_freshness_checks(
            assets=[asset_key(model_id, "performance")],
            deadline_cron=f"0 {deadline_hour_utc} * * *",
            timezone="UTC",
        )
    )


def freshness_checks_sensor(
    model_id: str, checks: list[dg.AssetChecksDefinition]
) -> dg.SensorDefinition:
    return dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name=f"{dagster_name(model_id)}__freshness_checks",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


def missing_day(evaluation: dg.AssetCheckEvaluation) -> dt.date:
    """The daily partition the failed check expected: the day before the deadline's day."""
    deadline = dt.datetime.fromtimestamp(evaluation.metadata[LATEST_CRON_TICK].value, dt.UTC)
    return deadline.date() - dt.timedelta(days=1)


def _latest_failure(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey
) -> tuple[int, dg.AssetCheckEvaluation] | None:
    records = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=1)
    if not records or records[0].event is None or records[0].event.dagster_event is None:
        return None
    evaluation = records[0].event.dagster_event.event_specific_data
    if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
        return None
    return records[0].id, evaluation


def build_freshness_alerts_sensor(model_id: str) -> dg.SensorDefinition:
    check_key = dg.AssetCheckKey(asset_key(model_id, "performance"), FRESHNESS_CHECK)

    @dg.sensor(
        name=f"{dagster_name(model_id)}__freshness_alerts",
        job_name=NOTIFY_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Raises a freshness alert when {model_id}'s daily performance is late.",
    )
    def freshness_alerts(context: dg.SensorEvaluationContext, storage: PipelineStorage):
        from perf_pipeline.alerts.records import Alert, write_alerts

        failure = _latest_failure(context.instance, check_key)
        if failure is None or str(failure[0]) == context.cursor:
            return dg.SkipReason(f"no new failure of {check_key.to_user_string()}")
        context.update_cursor(str(failure[0]))
        day = missing_day(failure[1])
        alert = Alert(
            model_id=model_id,
            date=day,
            kind="freshness",
            metric_or_column="performance",
            value=None,
            baseline=None,
            threshold=None,
            severity=CRITICAL,
            message=f"{model_id} {day}: performance had not landed by its deadline "
            f"({failure[1].description or 'freshness check failed'})",
        )
        with storage.get_connection() as con:
            write_alerts(con, storage.paths, model_id, [day], [alert], FRESHNESS_WRITER)
        pending = pending_ids(storage.paths, [{"alert_id": alert.alert_id, "model_id": model_id}])
        if not pending:
            return dg.SkipReason(f"freshness alert of {day} already sent")
        return dg.RunRequest(
            run_key=f"freshness-{alert.alert_id}",
            run_config=dg.RunConfig(
                ops={"send_alerts": {"config": {"alert_ids": [alert.alert_id]}}}
            ),
        )

    return freshness_alerts
