"""The sample's incidents through the real backfill: each alert once, its severity, its root cause.

One module-scoped backfill of the shipped sample (both models, one run each). The root cause of
every performance alert is checked against the same day's `drift` and `performance` rows, read
back from the lake, so a wrong ranking or a wrong day would show.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import dagster as dg
import pandas as pd
import pytest

from perf_pipeline.alerts.root_cause import ROOT_CAUSE_SEPARATOR
from perf_pipeline.alerts.severity import CRITICAL, WARNING, rank
from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.metrics.performance import metric_direction
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import INCIDENTS, SAMPLE_DAYS, SAMPLE_START, write_sample

pytestmark = pytest.mark.slow  # one 60-day backfill of two models

END = SAMPLE_START + dt.timedelta(days=SAMPLE_DAYS - 1)
EXPECTED_SEVERITY = {"performance": CRITICAL, "drift": WARNING, "data_quality": CRITICAL}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sample_root")
    paths = write_sample(root)
    models = load_models(paths.models_file)
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("home"))) as instance:
        outcomes = backfill(
            build_definitions(root), instance, list(models.values()), SAMPLE_START, END, "WARNING"
        )
    assert all(o.success for o in outcomes)
    con = connect()
    tables = {
        t: con.execute(f"SELECT * FROM {read_table_sql(paths, t)}").df()
        for t in ("alerts", "performance", "drift")
    }
    for frame in tables.values():
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return {"models": models, **tables}


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


def test_clean_days_fire_nothing(sample) -> None:
    allowed: dict[tuple[str, str], set[dt.date]] = defaultdict(set)
    for incident in INCIDENTS:
        for kind in incident.kinds:
            allowed[(incident.model_id, kind)] |= set(incident.may_alert)
    stray = [
        (a.model_id, a.kind, a.date)
        for a in sample["alerts"].itertuples()
        if a.date not in allowed[(a.model_id, a.kind)]
    ]
    assert stray == []


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
