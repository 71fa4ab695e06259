"""The team instance: `deploy/dagster.yaml` on a real PostgreSQL server.

The shipped file, unchanged, is the instance's `dagster.yaml` (the connection comes from the
`DAGSTER_PG_*` variables); a partitioned backfill, the alerts sensor and the late-labels sensor
run against it, so runs, materializations and the sensors' reads all go through Postgres.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from local_servers import PostgresServer, postgres_server

from perf_pipeline.config import load_models
from perf_pipeline.definitions import PROJECT_ROOT, build_definitions, daily_job_name
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.runner import MODEL_TAG, backfill, pending_alert_ids
from perf_pipeline.sample_data import day, write_sample

MODEL = "card_fraud"
FIRST, LAST = day(8), day(11)  # day 10 holds a truncated file: a data-quality alert
DEPLOY_CONFIG = PROJECT_ROOT / "deploy" / "dagster.yaml"


@pytest.fixture(scope="module")
def server():
    with postgres_server() as server:
        yield server


@pytest.fixture
def instance(server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        yield instance


def _sql(server: PostgresServer, query: str) -> list[tuple]:
    with (
        psycopg2.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            dbname=server.db,
        ) as con,
        con.cursor() as cursor,
    ):
        cursor.execute(query)
        return cursor.fetchall()


def _context(instance, defs, paths, cursor=None) -> dg.SensorEvaluationContext:
    return dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        cursor=cursor,
        resources={"storage": PipelineStorage(data_root=str(paths.root))},
    )


def test_the_deploy_config_is_postgres_with_a_run_queue(instance) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    coordinator = instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    limits = {
        limit["key"]: limit for limit in coordinator.get_run_queue_config().tag_concurrency_limits
    }
    assert limits[MODEL_TAG]["value"] == {"applyLimitPerUniqueValue": True}


@pytest.mark.slow  # a real server, a four-day backfill and the sensors: about a minute
def test_a_backfill_and_the_sensors_run_against_postgres(
    instance, server: PostgresServer, tmp_path: Path
) -> None:
    paths = write_sample(tmp_path / "root", days=LAST.toordinal() - day(0).toordinal() + 1)
    defs = build_definitions(paths.root)
    model = load_models(paths.models_file)[MODEL]
    [outcome] = backfill(defs, instance, [model], FIRST, LAST, log_level="WARNING")
    assert outcome.success, outcome.failed_steps

    # The run, its tags and its day-by-day materializations are rows in Postgres.
    assert _sql(server, f"SELECT status FROM runs WHERE run_id = '{outcome.run_id}'") == [
        ("SUCCESS",)
    ]
    performance = dg.AssetKey([MODEL, "performance"])
    [(materialized,)] = _sql(
        server,
        "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        f"AND run_id = '{outcome.run_id}' AND asset_key LIKE '%performance%'",
    )
    assert materialized == 4  # one per day of the range, the blocked day's cleared one too
    done = instance.get_materialized_partitions(performance)
    assert {(FIRST + dt.timedelta(days=i)).isoformat() for i in range(4)} <= done

    # The alerts sensor finds the blocked day's alert through the Postgres event log.
    alerts = defs.resolve_sensor_def("alerts_sensor")
    tick = alerts.evaluate_tick(_context(instance, defs, paths))
    [request] = tick.run_requests
    ids = request.run_config["ops"]["send_alerts"]["config"]["alert_ids"]
    assert sorted(ids) == sorted(pending_alert_ids(paths)) and ids
    notify = defs.resolve_job_def("notify_alerts")
    assert notify.execute_in_process(run_config=request.run_config, instance=instance).success
    assert not alerts.evaluate_tick(_context(instance, defs, paths, tick.cursor)).run_requests

    _late_labels_are_found(instance, defs, paths)


def _late_labels_are_found(instance, defs, paths) -> None:
    """Late labels for day 9 arrive with day 11: the sensor asks for day 9 again."""
    sensor = defs.resolve_sensor_def(f"{MODEL}__late_labels")
    first = sensor.evaluate_tick(_context(instance, defs, paths))
    for request in first.run_requests:  # only days before the backfill, never computed
        assert request.tags["dagster/asset_partition_range_end"] < FIRST.isoformat()
    predicted_on = day(9)
    con = connect()
    unlabelled = con.execute(
        f"""SELECT p.prediction_id FROM {read_table_sql(paths, "predictions", MODEL)} p
        ANTI JOIN {read_table_sql(paths, "labels", MODEL)} l USING (prediction_id)
        WHERE p.date = DATE '{predicted_on.isoformat()}' ORDER BY 1 LIMIT 200"""
    ).fetchall()
    assert unlabelled
    late = paths.landing_day("labels", MODEL, LAST) / "late-delivery.jsonl"
    late.write_text(
        "".join(json.dumps({"prediction_id": i, "label": 0}) + "\n" for (i,) in unlabelled)
    )
    job = defs.resolve_job_def(daily_job_name(MODEL))
    assert job.execute_in_process(
        partition_key=LAST.isoformat(),
        instance=instance,
        asset_selection=[dg.AssetKey([MODEL, "labels"])],
    ).success
    [request] = sensor.evaluate_tick(_context(instance, defs, paths, first.cursor)).run_requests
    start = dt.date.fromisoformat(request.tags["dagster/asset_partition_range_start"])
    end = dt.date.fromisoformat(request.tags["dagster/asset_partition_range_end"])
    assert start <= predicted_on <= end
