"""The whole sample period through real Dagster, twice, held to the documented incidents.

One module-scoped backfill feeds every test here (it is the expensive part); the tests that change
the data root run last, in file order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from perf_pipeline.alerts.root_cause import ROOT_CAUSE_SEPARATOR
from perf_pipeline.alerts.severity import CRITICAL, WARNING, rank
from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.metrics.performance import metric_direction
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import (
    INCIDENTS,
    SAMPLE_DAYS,
    SAMPLE_START,
    SHADOW_VERSION,
    day,
    write_sample,
)
from perf_pipeline.views import PUBLIC_TABLES

END = SAMPLE_START + dt.timedelta(days=SAMPLE_DAYS - 1)
ALL_DAYS = [day(i) for i in range(SAMPLE_DAYS)]
SNAPSHOT_TABLES = [*PUBLIC_TABLES, "ingest_log"]


def _snapshot(paths: DataPaths) -> dict[str, pd.DataFrame]:
    con = connect()
    tables = {}
    for table in SNAPSHOT_TABLES:
        frame = con.execute(f"SELECT * FROM {read_table_sql(paths, table)}").df()
        tables[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return tables


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("data_root")
    paths = write_sample(root)
    defs = build_definitions(root)
    models = list(load_models(paths.models_file).values())
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        first = backfill(defs, instance, models, SAMPLE_START, END, log_level="WARNING")
        first_snapshot = _snapshot(paths)
        second = backfill(defs, instance, models, SAMPLE_START, END, log_level="WARNING")
        yield {
            "paths": paths,
            "defs": defs,
            "instance": instance,
            "outcomes": [*first, *second],
            "first": first_snapshot,
            "second": _snapshot(paths),
        }


def _sensor_context(pipeline, cursor: str | None = None) -> dg.SensorEvaluationContext:
    storage = PipelineStorage(data_root=str(pipeline["paths"].root))
    return dg.build_sensor_context(
        instance=pipeline["instance"],
        definitions=pipeline["defs"],
        cursor=cursor,
        resources={"storage": storage},
    )


def _alerts(pipeline) -> pd.DataFrame:
    alerts = pipeline["second"]["alerts"].copy()
    alerts["date"] = pd.to_datetime(alerts["date"]).dt.date
    return alerts


def test_every_run_is_one_run_per_model_and_succeeds(pipeline) -> None:
    outcomes = pipeline["outcomes"]
    assert [o.model_id for o in outcomes] == ["card_fraud", "store_demand"] * 2
    assert all(o.success for o in outcomes), [(o.model_id, o.failed_steps) for o in outcomes]
    runs = pipeline["instance"].get_runs()
    assert len(runs) == 4  # a 60-day backfill of a model is a single run, never one per day


def test_alerts_only_inside_incident_windows(pipeline) -> None:
    """Clean days raise nothing; an incident raises only its own kind, inside its window."""
    allowed: dict[tuple[str, str], set[dt.date]] = defaultdict(set)
    for incident in INCIDENTS:
        for kind in incident.kinds:
            allowed[(incident.model_id, kind)] |= set(incident.may_alert)
    alerts = _alerts(pipeline)
    stray = [
        (row.model_id, row.kind, row.date, row.message)
        for row in alerts.itertuples()
        if row.date not in allowed[(row.model_id, row.kind)]
    ]
    assert not stray


def test_quarantine_counts_match_the_injected_bad_rows(pipeline) -> None:
    quarantine = pipeline["second"]["quarantine"]
    quarantine = quarantine[quarantine["source"] == "predictions"].copy()
    quarantine["date"] = pd.to_datetime(quarantine["date"]).dt.date
    found = quarantine.groupby(["model_id", "date", "reason"]).size().to_dict()
    expected = {
        (i.model_id, i.first_day, reason): count
        for i in INCIDENTS
        if i.quarantined
        for reason, count in i.quarantined.items()
    }
    assert found == expected


def test_every_row_is_accounted_for(pipeline) -> None:
    snapshot = pipeline["second"]
    log = snapshot["ingest_log"]
    assert (log["rows_read"] == log["accepted"] + log["quarantined"]).all()
    for source, table in (("predictions", "predictions"), ("labels", "labels")):
        stored = snapshot[table].groupby(["model_id", "date"]).size()
        rejected = snapshot["quarantine"][snapshot["quarantine"]["source"] == source]
        rejected = rejected.groupby(["model_id", "date"]).size()
        entries = log[log["source"] == source].set_index(["model_id", "date"])
        assert stored.reindex(entries.index, fill_value=0).tolist() == entries["accepted"].tolist()
        assert (
            rejected.reindex(entries.index, fill_value=0).tolist()
            == entries["quarantined"].tolist()
        )


def test_second_run_leaves_every_table_identical(pipeline) -> None:
    for table in SNAPSHOT_TABLES:
        pd.testing.assert_frame_equal(
            pipeline["first"][table], pipeline["second"][table], obj=table
        )
        assert len(pipeline["second"][table]) > 0, table


def test_blocked_days_have_no_downstream_rows_and_name_the_problem(pipeline) -> None:
    snapshot = pipeline["second"]
    performance = snapshot["performance"]
    dates = set(
        pd.to_datetime(performance[performance["model_id"] == "card_fraud"]["date"]).dt.date
    )
    assert day(10) not in dates and day(40) not in dates and day(9) in dates
    quality = snapshot["data_quality"]
    quality = quality[(quality["model_id"] == "card_fraud") & ~quality["success"]]
    quality["date"] = pd.to_datetime(quality["date"]).dt.date
    unreadable = quality[
        (quality["date"] == day(10)) & (quality["expectation"] == "files_readable")
    ]
    assert "part-1.parquet" in unreadable.iloc[0]["observed_value"]
    assert "not a readable Parquet file" in unreadable.iloc[0]["observed_value"]
    nulls = quality[
        (quality["date"] == day(40)) & (quality["expectation"] == "merchant_risk_null_rate")
    ]
    assert nulls.iloc[0]["severity"] == "error"


def test_gate_results_are_asset_checks_in_dagster(pipeline) -> None:
    instance: dg.DagsterInstance = pipeline["instance"]
    check_key = dg.AssetCheckKey(
        dg.AssetKey(["card_fraud", "data_quality"]), "merchant_risk_null_rate"
    )
    records = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=1)
    evaluation = records[0].event.dagster_event.event_specific_data
    assert not evaluation.passed
    # In a multi-day backfill a failing day is excluded downstream and reported, not run-blocking.
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert day(40).isoformat() in evaluation.metadata["failed_days"].value


def test_reports_are_written_for_usable_days(pipeline) -> None:
    paths: DataPaths = pipeline["paths"]
    report = paths.report_file("card_fraud", day(3))
    html = report.read_text(encoding="utf-8")
    assert "../_evidently" not in html and len(html) < 3_000_000
    assert "Classification quality" in html and "card_fraud" in html
    blocked = paths.report_file("card_fraud", day(10)).read_text(encoding="utf-8")
    assert "blocked at the data-quality gate" in blocked


def test_views_file_answers_queries(pipeline) -> None:
    paths: DataPaths = pipeline["paths"]
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        labels, latest = con.execute(
            "SELECT count(*), count(DISTINCT prediction_id) FROM labels"
        ).fetchall()[0]
        assert labels == latest  # the public labels table keeps one label per prediction
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert set(PUBLIC_TABLES) <= tables


def test_alerts_sensor_sends_every_alert_once(pipeline) -> None:
    defs: dg.Definitions = pipeline["defs"]
    instance: dg.DagsterInstance = pipeline["instance"]
    paths: DataPaths = pipeline["paths"]
    sensor = defs.resolve_sensor_def("alerts_sensor")
    result = sensor.evaluate_tick(_sensor_context(pipeline))
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    alert_ids = request.run_config["ops"]["send_alerts"]["config"]["alert_ids"]
    assert sorted(alert_ids) == sorted(_alerts(pipeline)["alert_id"])

    job = defs.resolve_job_def("notify_alerts")
    assert job.execute_in_process(run_config=request.run_config, instance=instance).success
    lines = [json.loads(line) for line in paths.alerts_log.read_text().splitlines()]
    assert sorted(r["alert_id"] for r in lines) == sorted(alert_ids)

    again = sensor.evaluate_tick(_sensor_context(pipeline, result.cursor))
    assert not again.run_requests


# The incidents' alerts through the same backfill: each once a day, with its severity, and every
# performance alert's root cause checked against the same day's `drift` and `performance` rows,
# so a wrong ranking or a wrong day would show.

EXPECTED_SEVERITY = {"performance": CRITICAL, "drift": WARNING, "data_quality": CRITICAL}


@pytest.fixture(scope="module")
def sample(pipeline):
    tables = {t: pipeline["second"][t].copy() for t in ("alerts", "performance", "drift")}
    for frame in tables.values():
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return {"models": load_models(pipeline["paths"].models_file), **tables}


@pytest.mark.parametrize("incident", [i for i in INCIDENTS if i.alert_kind], ids=lambda i: i.name)
def test_each_incident_fires_once_a_day_with_its_severity(sample, incident) -> None:
    alerts = sample["alerts"]
    mine = alerts[
        (alerts["model_id"] == incident.model_id) & (alerts["kind"] == incident.alert_kind)
    ]
    mine = mine[mine["date"].isin(incident.may_alert)]  # a model may have two such incidents
    assert set(incident.must_alert) <= set(mine["date"])
    # Once: one row per (day, subject), whatever the days were judged by (the run, its closing day).
    assert not mine.duplicated(["date", "metric_or_column"]).any()
    assert mine["alert_id"].is_unique
    expected = rank(EXPECTED_SEVERITY[incident.alert_kind])
    assert [rank(s) for s in mine["severity"]] == [expected] * len(mine), set(mine["severity"])


@pytest.mark.parametrize("incident", [i for i in INCIDENTS if i.also_may], ids=lambda i: i.name)
def test_an_incidents_other_kinds_fire_once_a_day_with_their_severity(sample, incident) -> None:
    """What else an incident may raise (a fraud ring's `drift`) is held to the same rules."""
    alerts = sample["alerts"]
    for kind in incident.also_may:
        mine = alerts[(alerts["model_id"] == incident.model_id) & (alerts["kind"] == kind)]
        mine = mine[mine["date"].isin(incident.may_alert)]
        assert not mine.duplicated(["date", "metric_or_column"]).any(), kind
        expected = rank(EXPECTED_SEVERITY[kind])
        assert [rank(s) for s in mine["severity"]] == [expected] * len(mine), kind


def _expected_drifted(model, drift: pd.DataFrame) -> list[str]:
    rows = drift[drift["column"].isin(model.features.all) & drift["drifted"].fillna(False)]
    ranked = sorted(
        rows.itertuples(), key=lambda r: (-(r.psi if pd.notna(r.psi) else -1e9), r.column)
    )
    return [r.column for r in ranked[:3]]


def _expected_worst(model, metric: str, performance: pd.DataFrame) -> list[tuple[str, float, int]]:
    rows = performance[
        (performance["metric"] == metric)
        & ~performance["is_estimated"].astype(bool)
        & (performance["segment_column"] != "__all__")
        & (performance["segment_value"] != "__groups__")
        & performance["value"].notna()
    ]
    worst_first = rows.sort_values("value", ascending=metric_direction(model.task, metric))
    return [(r.segment_value, r.value, r.n) for r in worst_first.head(3).itertuples()]


def test_performance_alerts_carry_the_days_root_cause(sample) -> None:
    alerts = sample["alerts"]
    raised = alerts[alerts["kind"] == "performance"]
    assert len(raised) >= 8 + 9  # demand_decay and fraud_decay, every day of each
    for alert in raised.itertuples():
        model = sample["models"][alert.model_id]
        cause = json.loads(alert.root_cause)
        drift = sample["drift"][
            (sample["drift"]["model_id"] == alert.model_id)
            & (sample["drift"]["date"] == alert.date)
        ]
        performance = sample["performance"][
            (sample["performance"]["model_id"] == alert.model_id)
            & (sample["performance"]["date"] == alert.date)
        ]
        assert [d["column"] for d in cause["drifted_features"]] == _expected_drifted(model, drift)
        got = [(s["segment_value"], s["value"], s["n"]) for s in cause["worst_segments"]]
        expected = _expected_worst(model, alert.metric_or_column, performance)
        assert [g[0] for g in got] == [e[0] for e in expected]
        assert [g[1] for g in got] == pytest.approx([e[1] for e in expected])
        assert [g[2] for g in got] == [e[2] for e in expected]
        assert got, "every sample model reports segments"
        summary = alert.message.split(ROOT_CAUSE_SEPARATOR)[1]
        segment = cause["worst_segments"][0]
        assert f"{segment['segment_column']}={segment['segment_value']}" in summary
        assert f"(n {segment['n']})" in summary


def test_other_kinds_carry_no_root_cause(sample) -> None:
    alerts = sample["alerts"]
    others = alerts[~alerts["kind"].isin(["performance", "estimated_performance"])]
    assert not others.empty and others["root_cause"].isna().all()


def test_late_labels_recompute_exactly_the_stale_days(pipeline) -> None:
    defs: dg.Definitions = pipeline["defs"]
    instance: dg.DagsterInstance = pipeline["instance"]
    paths: DataPaths = pipeline["paths"]
    sensor = defs.resolve_sensor_def("card_fraud__late_labels")
    settled = sensor.evaluate_tick(_sensor_context(pipeline))
    assert not settled.run_requests  # the backfill computed every day after its labels

    con = connect()
    predicted_on = day(57)
    # Production's rows: the shadow version's are not counted in `performance`.
    unlabelled = con.execute(
        f"""SELECT p.prediction_id FROM {read_table_sql(paths, "predictions", "card_fraud")} p
        ANTI JOIN {read_table_sql(paths, "labels", "card_fraud")} l USING (prediction_id)
        WHERE p.date = DATE '{predicted_on.isoformat()}'
        AND p.model_version IS DISTINCT FROM '{SHADOW_VERSION}' ORDER BY 1 LIMIT 500"""
    ).fetchall()
    coverage_sql = (
        f"SELECT label_coverage, n FROM {read_table_sql(paths, 'performance', 'card_fraud')} "
        f"WHERE date = DATE '{predicted_on.isoformat()}' AND segment_column = '__all__' "
        "AND metric = 'accuracy' AND NOT is_estimated"
    )
    coverage_before, labelled_before = con.execute(coverage_sql).fetchall()[0]
    late = paths.landing_day("labels", "card_fraud", END) / "late-delivery.jsonl"
    late.write_text(
        "".join(json.dumps({"prediction_id": i, "label": 0}) + "\n" for (i,) in unlabelled)
    )
    job = defs.resolve_job_def(daily_job_name("card_fraud"))
    labels_key = dg.AssetKey(["card_fraud", "labels"])
    assert job.execute_in_process(
        partition_key=END.isoformat(), instance=instance, asset_selection=[labels_key]
    ).success

    tick = sensor.evaluate_tick(_sensor_context(pipeline, settled.cursor))
    assert len(tick.run_requests) == 1
    request = tick.run_requests[0]
    # Every prediction day with a label in the re-ingested arrival day is recomputed, no other.
    first, last = con.execute(
        "SELECT CAST(min(prediction_date) AS VARCHAR), CAST(max(prediction_date) AS VARCHAR) "
        f"FROM {read_table_sql(paths, 'labels', 'card_fraud')} "
        f"WHERE arrival_date = DATE '{END.isoformat()}'"
    ).fetchall()[0]
    assert first <= predicted_on.isoformat() <= last
    assert request.tags["dagster/asset_partition_range_start"] == first
    assert request.tags["dagster/asset_partition_range_end"] == last
    rerun = job.execute_in_process(
        instance=instance, tags=request.tags, asset_selection=request.asset_selection
    )
    assert rerun.success
    coverage_after, labelled_after = con.execute(coverage_sql).fetchall()[0]
    assert labelled_after == labelled_before + len(unlabelled)
    assert coverage_after > coverage_before


def test_a_single_blocked_day_stops_downstream_then_proceeds_once_fixed(pipeline) -> None:
    defs: dg.Definitions = pipeline["defs"]
    instance: dg.DagsterInstance = pipeline["instance"]
    paths: DataPaths = pipeline["paths"]
    job = defs.resolve_job_def(daily_job_name("card_fraud"))
    broken = job.execute_in_process(
        partition_key=day(40).isoformat(), instance=instance, raise_on_error=False
    )
    assert not broken.success
    started = {e.step_key for e in broken.all_events if e.event_type_value == "STEP_START"}
    failed = {e.step_key for e in broken.all_events if e.is_step_failure}
    assert failed == {"card_fraud__data_quality"}
    assert not {"card_fraud__performance", "card_fraud__drift", "card_fraud__alerts"} & started

    landing = paths.landing_day("predictions", "card_fraud", day(40)) / "part-0.parquet"
    frame = pd.read_parquet(landing)
    frame["merchant_risk"] = 0.25
    frame.to_parquet(landing, index=False)
    fixed = job.execute_in_process(partition_key=day(40).isoformat(), instance=instance)
    assert fixed.success
    con = connect()
    rows = con.execute(
        f"SELECT count(*) FROM {read_table_sql(paths, 'performance', 'card_fraud')} "
        f"WHERE date = DATE '{day(40).isoformat()}'"
    ).fetchall()[0][0]
    assert rows > 0
    remaining = con.execute(
        f"SELECT count(*) FROM {read_table_sql(paths, 'alerts', 'card_fraud')} "
        f"WHERE date = DATE '{day(40).isoformat()}' AND kind = 'data_quality'"
    ).fetchall()[0][0]
    assert remaining == 0


def test_sample_models_file_matches_the_shipped_one() -> None:
    shipped = Path(__file__).resolve().parent.parent / "data" / "models.yaml"
    from perf_pipeline.sample_data import MODELS_YAML

    assert shipped.read_text(encoding="utf-8") == MODELS_YAML
