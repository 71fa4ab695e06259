"""`performance.status` (estimated / provisional / final) as users read it: through the views
file in real DuckDB, the `perf-pipeline status` output, and the one SQL expression behind both.

A day is final once its label coverage reaches `labels.final_coverage` or once the arrival day
`date + label_delay_days` is over; the status is computed when read, so the days here are placed
relative to today's UTC date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perf_pipeline.config import load_models
from perf_pipeline.lake import connect, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.performance_status import (
    DEFAULT_FINAL_COVERAGE,
    DEFAULT_LABEL_DELAY_DAYS,
    StatusSettings,
    status_sql,
    with_status_sql,
)
from perf_pipeline.schemas import PERFORMANCE
from perf_pipeline.status import print_status
from perf_pipeline.views import refresh_views

TODAY = dt.datetime.now(dt.UTC).date()
MODELS = """models:
  m:
    task: binary_classification
    start_date: 2024-01-01
    features: {numerical: [amount]}
    label_delay_days: 10
    labels: {final_coverage: %s}
"""


def _day(days_ago: int) -> dt.date:
    return TODAY - dt.timedelta(days=days_ago)


def _rows(model_id: str, day: dt.date, coverage: float, segment_coverage: float = 1.0) -> list:
    """A day's overall realized and estimated accuracy, and one segment's realized row."""
    base = {"model_id": model_id, "date": day, "metric": "accuracy", "value": 0.9, "n": 100}
    return [
        {**base, "segment_column": "__all__", "segment_value": "__all__"}
        | {"label_coverage": coverage, "is_estimated": False},
        {**base, "segment_column": "__all__", "segment_value": "__all__"}
        | {"label_coverage": coverage, "is_estimated": True},
        {**base, "segment_column": "channel", "segment_value": "web"}
        | {"label_coverage": segment_coverage, "is_estimated": False},
    ]


def _write(paths: DataPaths, model_id: str, days: dict[dt.date, float]) -> None:
    frame = pd.DataFrame([r for day, cov in days.items() for r in _rows(model_id, day, cov)])
    con = connect()
    write_frame_partitions(con, paths, "performance", model_id, frame, PERFORMANCE, list(days))


def _statuses(paths: DataPaths) -> dict[tuple[str, dt.date, str, bool], str]:
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        rows = con.execute(
            "SELECT model_id, date, segment_column, is_estimated, status FROM performance"
        ).fetchall()
    return {(m, d, s, e): status for m, d, s, e, status in rows}


def _day_status(statuses: dict, model_id: str, day: dt.date) -> str:
    """The status of the day's realized rows; they agree, segment rows included."""
    realized = {v for (m, d, _, e), v in statuses.items() if m == model_id and d == day and not e}
    assert len(realized) == 1, realized
    return realized.pop()


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(MODELS % "0.9", encoding="utf-8")
    _write(
        paths,
        "m",
        {
            _day(2): 0.5,  # few labels, delay not passed
            _day(3): 0.9,  # coverage exactly final_coverage
            _day(4): 0.95,  # above it
            _day(10): 0.2,  # date + 10 == today: the arrival day is not over
            _day(11): 0.2,  # date + 10 == yesterday: the delay has passed
        },
    )
    # Not in the models file: judged with the defaults (0.95, 14 days).
    _write(paths, "gone", {_day(14): 0.5, _day(15): 0.5, _day(1): 0.95})
    return paths


def test_status_matrix_through_the_views_file(paths: DataPaths) -> None:
    assert refresh_views(paths) is True
    statuses = _statuses(paths)
    assert {v for (_, _, _, estimated), v in statuses.items() if estimated} == {"estimated"}
    expected = {
        ("m", _day(2)): "provisional",
        ("m", _day(3)): "final",
        ("m", _day(4)): "final",
        ("m", _day(10)): "provisional",
        ("m", _day(11)): "final",
        ("gone", _day(14)): "provisional",
        ("gone", _day(15)): "final",
        ("gone", _day(1)): "final",
    }
    assert {key: _day_status(statuses, *key) for key in expected} == expected


def test_a_segment_shares_its_days_status_whatever_its_own_coverage(paths: DataPaths) -> None:
    """Segment rows carry coverage 1.0 here, yet a provisional day is provisional throughout."""
    refresh_views(paths)
    statuses = _statuses(paths)
    assert statuses[("m", _day(2), "channel", False)] == "provisional"


def test_changed_settings_rebuild_the_views_and_change_the_status(paths: DataPaths) -> None:
    refresh_views(paths)
    assert refresh_views(paths) is False
    paths.models_file.write_text(MODELS % "0.5", encoding="utf-8")

    assert refresh_views(paths) is True
    statuses = _statuses(paths)
    assert _day_status(statuses, "m", _day(2)) == "final"  # 0.5 coverage is enough now
    assert _day_status(statuses, "m", _day(10)) == "provisional"  # 0.2 is not


@pytest.mark.parametrize("models_file", ["missing", "broken"])
def test_without_a_usable_models_file_every_model_gets_the_defaults(
    paths: DataPaths, models_file: str
) -> None:
    refresh_views(paths)
    if models_file == "missing":
        paths.models_file.unlink()
    else:
        paths.models_file.write_text("models:\n  m: [not, a, mapping\n", encoding="utf-8")

    assert refresh_views(paths) is True
    statuses = _statuses(paths)
    # m now needs 0.95 coverage or 14 days: 0.9 is no longer enough, 11 days are not.
    assert _day_status(statuses, "m", _day(3)) == "provisional"
    assert _day_status(statuses, "m", _day(11)) == "provisional"
    assert _day_status(statuses, "m", _day(4)) == "final"


def test_status_command_shows_the_status_of_the_latest_metrics(
    paths: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    refresh_views(paths)
    assert print_status(paths, ["m"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines[0][:2] == ["m", "OK"] and lines[0][-1] == _day(2).isoformat()
    header = next(line for line in lines if line[:2] == ["metric", "final"])
    row = next(line for line in lines if line[:1] == ["accuracy"])
    # Each column is "value day"; the header names one column per value.
    days = {name: row[1 + 2 * i + 1] for i, name in enumerate(header[1:4])}
    # The latest final day is day 3 (coverage reached); day 2, two days old with half its
    # labels, is provisional, with its estimate beside it.
    assert days == {
        "final": _day(3).isoformat(),
        "provisional": _day(2).isoformat(),
        "estimated": _day(2).isoformat(),
    }


def test_the_defaults_are_the_models_files_defaults(tmp_path: Path) -> None:
    file = tmp_path / "models.yaml"
    file.write_text("models:\n  m: {task: regression, start_date: 2024-01-01}\n", encoding="utf-8")
    model = load_models(file)["m"]
    assert StatusSettings.of(model) == StatusSettings("m")
    assert (DEFAULT_FINAL_COVERAGE, DEFAULT_LABEL_DELAY_DAYS) == (0.95, 14)
    assert model.labels.alert_on_provisional is False


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ("{final_coverage: 0}", "greater than 0"),
        ("{final_coverage: 1.5}", "less than or equal to 1"),
        ("{final_cover: 0.9}", "final_cover"),
        ("{alert_on_provisional: sometimes}", "alert_on_provisional"),
    ],
)
def test_label_settings_are_validated_with_their_key_path(
    tmp_path: Path, labels: str, problem: str
) -> None:
    from perf_pipeline.config import ModelsFileError

    file = tmp_path / "models.yaml"
    file.write_text(
        f"models:\n  m:\n    task: regression\n    start_date: 2024-01-01\n    labels: {labels}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelsFileError, match=r"models\.m\.labels") as error:
        load_models(file)
    assert problem in str(error.value)


@given(
    coverage=st.one_of(st.none(), st.floats(0, 1)),
    final_coverage=st.floats(0.01, 1),
    age=st.integers(0, 60),
    delay=st.integers(0, 45),
    estimated=st.booleans(),
)
def test_status_sql_is_the_documented_rule(
    coverage: float | None, final_coverage: float, age: int, delay: int, estimated: bool
) -> None:
    """Estimated first; then final when coverage reaches the setting or the whole arrival day
    `date + delay` is over; provisional otherwise (no coverage counts as none)."""
    day = TODAY - dt.timedelta(days=age)
    expression = status_sql(
        "$estimated::BOOLEAN",
        "$coverage::DOUBLE",
        "$day::DATE",
        "$final_coverage::DOUBLE",
        "$delay::INTEGER",
        "$today::DATE",
    )
    inputs = {"estimated": estimated, "coverage": coverage, "day": day, "today": TODAY}
    inputs |= {"final_coverage": final_coverage, "delay": delay}
    (got,) = duckdb.execute(f"SELECT {expression}", inputs).fetchone()
    if estimated:
        expected = "estimated"
    elif (coverage or 0) >= final_coverage or day + dt.timedelta(days=delay) < TODAY:
        expected = "final"
    else:
        expected = "provisional"
    assert got == expected


def test_pinned_today_judges_as_the_clock_would_then() -> None:
    """The alerts stage may pin today; the view reads the clock. Same rows, same rule."""
    con = connect()
    frame = pd.DataFrame(_rows("m", dt.date(2024, 3, 1), 0.5))
    con.register("perf", frame)
    settings = [StatusSettings("m", 0.9, 10)]
    day_of = {
        dt.date(2024, 3, 11): "provisional",
        dt.date(2024, 3, 12): "final",
    }
    for today, expected in day_of.items():
        rows = con.execute(
            f"SELECT DISTINCT status FROM ({with_status_sql('perf', settings, today)}) "
            "WHERE NOT is_estimated"
        ).fetchall()
        assert rows == [(expected,)], today
