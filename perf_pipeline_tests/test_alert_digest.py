"""A backfill's alerts reach each channel as one digest per model and run; the daily run's new
alerts go out one by one, through real Dagster runs, the alerts sensor and the notify job.

Two alert-producing assets (tagged like the pipeline's own) write a drift alert on every day
they run; from day 10 on they also raise a data-quality alert, a new incident.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from perf_pipeline.alerts.channels import CHANNEL_KINDS, Channel, register_channel
from perf_pipeline.alerts.delivery import ledger_path
from perf_pipeline.alerts.notify import notify_alerts
from perf_pipeline.alerts.records import Alert, write_alerts
from perf_pipeline.assets.common import PRODUCES_ALERTS_TAG
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.sensors import alerts_sensor

START = dt.date(2026, 9, 1)
MODELS = ("fraud", "demand")
sent_calls: list[tuple[list[str], bool]] = []


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


@pytest.fixture
def recorder_kind() -> Iterator[None]:
    @register_channel
    class Recorder(Channel):
        """Keeps every call: the alert ids and whether it was a digest."""

        kind = "recorder"

        def send(self, alerts: list[dict[str, Any]], digest: bool = False) -> None:
            sent_calls.append(([a["alert_id"] for a in alerts], digest))

    sent_calls.clear()
    yield
    CHANNEL_KINDS.pop("recorder", None)


def _producer(model_id: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=[model_id, "alerts"],
        partitions_def=dg.DailyPartitionsDefinition(start_date=START.isoformat()),
        backfill_policy=dg.BackfillPolicy.single_run(),
        tags={PRODUCES_ALERTS_TAG: "true"},
    )
    def produce(context: dg.AssetExecutionContext, storage: PipelineStorage) -> None:
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        with storage.get_connection() as con:
            for d in days:
                raised = [Alert(model_id, d, "drift", "__dataset__", 0.7, None, 0.5, "warning", "")]
                if d >= day(10):
                    raised.append(
                        Alert(model_id, d, "data_quality", "volume", 0.1, None, 0.5, "critical", "")
                    )
                write_alerts(con, storage.paths, model_id, [d], raised, "regressions")

    return produce


@pytest.fixture
def setup(tmp_path: Path, recorder_kind: None) -> Iterator[dict]:
    paths = DataPaths(tmp_path / "root")
    paths.root.mkdir()
    body = "".join(
        f"  {m}:\n    task: regression\n    features: {{numerical: [x]}}\n"
        f"    start_date: {START.isoformat()}\n"
        for m in MODELS
    )
    paths.models_file.write_text(
        f"models:\n{body}notifications:\n  - {{kind: recorder}}\n", encoding="utf-8"
    )
    storage = PipelineStorage(data_root=str(paths.root))
    producers = {m: _producer(m) for m in MODELS}
    defs = dg.Definitions(
        assets=list(producers.values()),
        jobs=[notify_alerts],
        sensors=[alerts_sensor],
        resources={"storage": storage},
    )
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        yield {
            "paths": paths,
            "defs": defs,
            "assets": producers,
            "instance": instance,
            "storage": storage,
        }


def _run(setup: dict, model_id: str, first: int, last: int) -> str:
    tags = {"dagster/asset_partition_range_start": day(first).isoformat()}
    tags["dagster/asset_partition_range_end"] = day(last).isoformat()
    result = dg.materialize(
        [setup["assets"][model_id]],
        instance=setup["instance"],
        resources={"storage": setup["storage"]},
        tags=tags,
    )
    assert result.success
    return result.run_id


def _tick_and_notify(setup: dict, cursor: str | None) -> tuple[dict, str | None]:
    context = dg.build_sensor_context(
        instance=setup["instance"],
        definitions=setup["defs"],
        cursor=cursor,
        resources={"storage": setup["storage"]},
    )
    result = alerts_sensor.evaluate_tick(context)
    (request,) = result.run_requests
    job = setup["defs"].resolve_job_def("notify_alerts")
    assert job.execute_in_process(run_config=request.run_config, instance=setup["instance"]).success
    return request.run_config["ops"]["send_alerts"]["config"], result.cursor


def _ledger(paths: DataPaths) -> list[dict]:
    return [json.loads(line) for line in ledger_path(paths).read_text().splitlines()]


def test_a_backfill_is_one_digest_per_model_and_the_daily_run_pages_alert_by_alert(
    setup: dict,
) -> None:
    paths: DataPaths = setup["paths"]
    runs = {m: _run(setup, m, 0, 9) for m in MODELS}  # one run per model, ten days each

    config, cursor = _tick_and_notify(setup, None)

    assert len(config["alert_ids"]) == 20
    assert sorted(config["digests"]) == sorted(config["alert_ids"])
    assert set(config["digests"].values()) == set(runs.values())
    assert sorted((len(ids), digest) for ids, digest in sent_calls) == [(10, True), (10, True)]
    log = [r for r in _ledger(paths) if r["channel"] == "log"]
    digests = {(r["model_id"], r["digest"]) for r in log}
    assert sorted(m for m, _ in digests) == sorted(MODELS)  # exactly one digest per model
    assert len(log) == 20 and {r["status"] for r in log} == {"delivered"}
    assert len(paths.alerts_log.read_text().splitlines()) == 20

    sent_calls.clear()
    _run(setup, "fraud", 10, 10)  # the daily run of the next day
    config, _ = _tick_and_notify(setup, cursor)

    assert config["digests"] == {}
    volume = Alert("fraud", day(10), "data_quality", "volume", 0, None, 0, "", "").alert_id
    drift = Alert("fraud", day(10), "drift", "__dataset__", 0, None, 0, "", "").alert_id
    assert sent_calls == [([volume], False)]  # the new incident, alone
    latest = {(r["alert_id"], r["channel"]): r for r in _ledger(paths)}
    assert latest[(drift, "recorder")]["status"] == "suppressed"
    assert "continues incident" in latest[(drift, "recorder")]["reason"]

    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        per_model = con.execute(
            "SELECT model_id, count(DISTINCT digest) FROM notifications "
            "WHERE channel = 'log' AND digest IS NOT NULL GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert per_model == [("demand", 1), ("fraud", 1)]


def _latest_record_storage_id(setup: dict, model_id: str) -> int:
    key = dg.AssetKey([model_id, "alerts"])
    return setup["instance"].fetch_materializations(key, limit=1).records[0].storage_id


def test_which_runs_are_backfills(setup: dict) -> None:
    """More than one day, or one day older than a day already materialized: a backfill. The
    next day alone is the daily flow, and so is anything a sensor or schedule launched."""
    from perf_pipeline.sensors import is_backfill_run

    key = dg.AssetKey(["fraud", "alerts"])
    instance: dg.DagsterInstance = setup["instance"]

    def judged(first: int, last: int) -> bool:
        run_id = _run(setup, "fraud", first, last)
        return is_backfill_run(instance, run_id, key, _latest_record_storage_id(setup, "fraud"))

    assert judged(0, 4) is True
    assert judged(5, 5) is False
    assert judged(2, 2) is True
    result = dg.materialize(
        [setup["assets"]["fraud"]],
        instance=instance,
        resources={"storage": setup["storage"]},
        partition_key=day(1).isoformat(),
        tags={"dagster/sensor_name": "fraud__late_labels"},
    )
    storage_id = _latest_record_storage_id(setup, "fraud")
    assert is_backfill_run(instance, result.run_id, key, storage_id) is False
