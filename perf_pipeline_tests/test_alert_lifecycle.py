"""The alert lifecycle through the real lake, DuckDB and the `perf-pipeline alerts` commands:
incidents resolve after N clean judged days (not before), ack and snooze hold notifications back
(a snooze ends after its day), a hand resolution ends an incident, unknown ids exit 1, and the
state is readable through the warehouse views.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perf_pipeline.alerts.delivery import deliver, ledger_path
from perf_pipeline.alerts.incidents import refresh_incidents
from perf_pipeline.alerts.lifecycle import Breach, group_breaches, incidents_of
from perf_pipeline.alerts.notify import load_alerts
from perf_pipeline.alerts.records import Alert, write_alerts
from perf_pipeline.cli import main
from perf_pipeline.lake import connect, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import PERFORMANCE

START = dt.date(2026, 9, 1)  # months before today: every day is final


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def _models(resolve_after_days: int = 2) -> str:
    return f"""\
models:
  demand:
    task: regression
    features: {{numerical: [price]}}
    start_date: {START.isoformat()}
    min_labelled_rows: 10
    thresholds:
      mae: {{max: 15}}
    lifecycle: {{resolve_after_days: {resolve_after_days}}}
"""


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    root = DataPaths(tmp_path / "root")
    root.root.mkdir()
    root.models_file.write_text(_models(), encoding="utf-8")
    return root


def _judged(paths: DataPaths, mae: dict[int, float | None]) -> None:
    """The overall realized `mae` of each day (None: a day with too few labels to judge)."""
    rows = [
        {
            "model_id": "demand",
            "date": day(i),
            "segment_column": "__all__",
            "segment_value": "__all__",
            "metric": "mae",
            "value": value,
            "n": 500 if value is not None else 3,
            "label_coverage": 1.0,
            "is_estimated": False,
        }
        for i, value in mae.items()
    ]
    frame = pd.DataFrame(rows, columns=list(PERFORMANCE))
    days = [day(i) for i in mae]
    write_frame_partitions(connect(), paths, "performance", "demand", frame, PERFORMANCE, days)


def _breach(i: int, severity: str = "critical", metric: str = "mae") -> Alert:
    return Alert(
        "demand", day(i), "performance", metric, 30.0, 10.0, 15.0, severity, f"mae high {i}"
    )


def _raise(paths: DataPaths, *days: int, severity: str = "critical") -> list[str]:
    """Write each day's regression alert file (as the alerts stage does) and return the ids."""
    con = connect()
    for i in days:
        write_alerts(con, paths, "demand", [day(i)], [_breach(i, severity)], "regressions")
    return [_breach(i).alert_id for i in days]


def _incidents(paths: DataPaths) -> list:
    return refresh_incidents(connect(), paths)


def _cli(paths: DataPaths, *args: str) -> int:
    return main(["--home", str(paths.root), "alerts", *args])


def _delivered(paths: DataPaths) -> list[dict]:
    return [json.loads(line) for line in ledger_path(paths).read_text().splitlines()]


def _status_of(paths: DataPaths, channel: str = "log") -> dict[str, str]:
    return {r["alert_id"]: r["status"] for r in _delivered(paths) if r["channel"] == channel}


# --- recovery -------------------------------------------------------------------------------


def test_an_incident_resolves_after_n_clean_judged_days_and_not_before(paths: DataPaths) -> None:
    _judged(paths, {0: 30.0, 1: 31.0, 2: 32.0})
    first, *_ = _raise(paths, 0, 1, 2)
    [incident] = _incidents(paths)
    assert (incident.incident_id, incident.status, len(incident.members)) == (first, "open", 3)

    _judged(paths, {3: 10.0, 4: None})  # one clean day; day 4 has too few labels to judge
    [incident] = _incidents(paths)
    assert incident.status == "open" and incident.resolved_on is None

    _judged(paths, {5: 9.0})  # the second clean judged day
    [incident] = _incidents(paths)
    assert (incident.status, incident.resolved_on, incident.resolved_by) == (
        "resolved",
        day(5),
        "recovery",
    )


def test_resolve_after_days_is_read_from_the_models_file(paths: DataPaths) -> None:
    paths.models_file.write_text(_models(resolve_after_days=3), encoding="utf-8")
    _judged(paths, {0: 30.0, 1: 10.0, 2: 10.0})
    _raise(paths, 0)
    assert [i.status for i in _incidents(paths)] == ["open"]
    _judged(paths, {3: 10.0})
    assert [(i.status, i.resolved_on) for i in _incidents(paths)] == [("resolved", day(3))]


def test_a_breach_after_recovery_is_a_new_incident_and_one_between_is_not(
    paths: DataPaths,
) -> None:
    _judged(paths, {0: 30.0, 1: 10.0, 2: 30.0, 3: 10.0, 4: 10.0, 5: 30.0})
    ids = _raise(paths, 0, 2, 5)
    incidents = _incidents(paths)
    assert [sorted(i.member_ids) for i in incidents] == [sorted(ids[:2]), [ids[2]]]
    assert [i.status for i in incidents] == ["resolved", "open"]


def test_rerunning_days_neither_duplicates_nor_reopens(paths: DataPaths) -> None:
    _judged(paths, {0: 30.0, 1: 30.0, 2: 10.0, 3: 10.0})
    _raise(paths, 0, 1)
    [before] = _incidents(paths)
    resolved_at = (
        connect()
        .execute(
            f"SELECT resolved_at FROM read_parquet('{paths.warehouse}/incidents/**/*.parquet')"
        )
        .fetchall()
    )
    _raise(paths, 1, 0)  # the same days again, out of order
    _judged(paths, {2: 10.0})
    [after] = _incidents(paths)
    assert (after.incident_id, after.status, after.member_ids) == (
        before.incident_id,
        "resolved",
        before.member_ids,
    )
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT alert_id) FROM alerts").fetchone() == (
            2,
            2,
        )
        assert con.execute("SELECT resolved_at FROM incidents").fetchall() == resolved_at
        assert con.execute("SELECT DISTINCT status FROM alerts").fetchall() == [("resolved",)]


# --- people's decisions ---------------------------------------------------------------------


def test_ack_holds_back_every_later_breach_even_an_escalation(paths: DataPaths) -> None:
    first, second = _raise(paths, 0, 1, severity="warning")
    assert _cli(paths, "ack", first[:7], "--note", "on it") == 0
    (escalation,) = _raise(paths, 2, severity="critical")

    deliver(paths, load_alerts(paths, [first, second, escalation]))

    assert _status_of(paths) == {
        first: "suppressed",
        second: "suppressed",
        escalation: "suppressed",
    }
    reasons = {r["reason"] for r in _delivered(paths)}
    assert reasons == {f"incident {first} acknowledged"}
    assert not paths.alerts_log.exists()  # nothing reached the log channel


def test_without_ack_an_incident_pages_once_and_again_only_on_escalation(
    paths: DataPaths,
) -> None:
    first, second = _raise(paths, 0, 1, severity="warning")
    (escalation,) = _raise(paths, 2, severity="critical")
    deliver(paths, load_alerts(paths, [first, second, escalation]))
    assert _status_of(paths) == {first: "delivered", second: "suppressed", escalation: "delivered"}
    assert f"continues incident {first}" in next(
        r["reason"] for r in _delivered(paths) if r["alert_id"] == second
    )


def test_snooze_holds_back_breaches_up_to_its_day_then_pages_again(paths: DataPaths) -> None:
    ids = _raise(paths, 0)
    deliver(paths, load_alerts(paths, ids))
    assert _cli(paths, "snooze", ids[0], "--until", day(3).isoformat()) == 0
    ids += _raise(paths, 1, 2, 3)
    deliver(paths, load_alerts(paths, ids))
    assert [_status_of(paths)[a] for a in ids] == ["delivered"] + ["suppressed"] * 3

    ids += _raise(paths, 4, 5)  # past the snooze: the first of them pages, once
    deliver(paths, load_alerts(paths, ids))
    assert [_status_of(paths)[a] for a in ids[4:]] == ["delivered", "suppressed"]
    [incident] = _incidents(paths)
    assert incident.status == "open" and incident.snoozed_until == day(3)


def test_resolve_by_hand_ends_the_incident_and_a_new_breach_opens_another(
    paths: DataPaths,
) -> None:
    first, second = _raise(paths, 0, 1)
    deliver(paths, load_alerts(paths, [first, second]))
    assert _cli(paths, "resolve", second, "--note", "fixed upstream") == 0
    [incident] = _incidents(paths)
    assert (incident.incident_id, incident.status, incident.resolved_by) == (
        first,
        "resolved",
        "hand",
    )
    _raise(paths, 1)  # a re-run of a day it covered stays in it
    (later,) = _raise(paths, 2)
    deliver(paths, load_alerts(paths, [first, second, later]))
    resolved, reopened = _incidents(paths)
    assert resolved.status == "resolved" and reopened.incident_id == later
    assert reopened.status == "open" and _status_of(paths)[later] == "delivered"
    assert _cli(paths, "resolve", first) == 0  # already resolved: said, not an error


def test_unknown_and_ambiguous_ids_exit_1_naming_the_id(
    paths: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    _raise(paths, 0)
    assert _cli(paths, "ack", "zzzz0000") == 1
    assert "no alert or incident has the id 'zzzz0000'" in capsys.readouterr().err
    for i in range(1, 40):  # enough incidents that some share a first hex digit
        write_alerts(
            connect(), paths, "demand", [day(i)], [_breach(i, metric=f"m{i}")], "regressions"
        )
    firsts = [i.incident_id[0] for i in _incidents(paths)]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    assert _cli(paths, "snooze", shared, "--until", day(9).isoformat()) == 1
    assert f"the id prefix {shared!r} matches" in capsys.readouterr().err
    assert not (paths.warehouse / "alert_state").exists()


def test_state_is_readable_through_the_warehouse_views(
    paths: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = _raise(paths, 0, 1)
    (other,) = _raise(paths, 5)  # the lake does not know days 2..4: one incident
    deliver(paths, load_alerts(paths, [first, other]))
    assert _cli(paths, "ack", first, "--note", "looking") == 0
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        state = con.execute("SELECT incident_id, status, note FROM alert_state").fetchall()
        alerts = con.execute("SELECT DISTINCT status, incident_id FROM alerts").fetchall()
        sent = con.execute(
            "SELECT alert_id, channel, attempt, status FROM notifications ORDER BY alert_id"
        ).fetchall()
    assert state == [(first, "acknowledged", "looking")]
    assert alerts == [("acknowledged", first)]
    assert sorted(sent) == sorted([(first, "log", 1, "delivered"), (other, "log", 1, "suppressed")])

    capsys.readouterr()
    assert _cli(paths, "list", "--status", "acknowledged", "--format", "json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["incident_id"], listed["breach_days"], listed["note"]) == (first, 3, "looking")
    assert _cli(paths, "list", "--status", "open", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == []


# --- the grouping rule itself ---------------------------------------------------------------


@given(
    breach_days=st.sets(st.integers(0, 40), min_size=1, max_size=15),
    judged_extra=st.sets(st.integers(0, 45), max_size=30),
    after=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_grouping_partitions_breaches_by_the_clean_day_rule(
    breach_days: set[int], judged_extra: set[int], after: int, seed: int
) -> None:
    breaches = [Breach(f"a{i:02d}", day(i), "warning", None, "") for i in breach_days]
    judged = {day(i) for i in judged_extra | breach_days}
    shuffled = breaches[:]
    random.Random(seed).shuffle(shuffled)

    groups = group_breaches(shuffled, judged, after)
    assert groups == group_breaches(breaches, judged, after)  # order of input is irrelevant
    assert [b.date for g in groups for b in g] == sorted(b.date for b in breaches)
    clean = judged - {b.date for b in breaches}
    for group in groups:
        for a, b in itertools.pairwise(group):
            assert sum(1 for c in clean if a.date < c < b.date) < after
    for left, right in itertools.pairwise(groups):
        gap = sum(1 for c in clean if left[-1].date < c < right[0].date)
        assert gap >= after
    incidents = incidents_of(("m", "drift", "x"), shuffled, judged, after)
    assert all(i.status == "resolved" for i in incidents[:-1])
    last_clean = sum(1 for c in clean if c > incidents[-1].last_date)
    assert (incidents[-1].status == "resolved") == (last_clean >= after)
