"""Alerts and the trust in their numbers, through the real `<model>/alerts` asset in Dagster.

Realized alerts wait for a day's numbers to be final (unless `labels.alert_on_provisional`);
`estimated_performance` alerts flag a decay from estimated rows before the labels, and are
marked `confirmed` or `not_confirmed` once the day's realized numbers are final. The
`performance` partitions are written directly (the estimators' output shape, `schemas.PERFORMANCE`)
so these rules are tested on exactly the rows they read; days are placed relative to today (UTC),
since finality is judged against the clock.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from perf_pipeline.alerts.evaluate import evaluate_days
from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.lake import connect, write_single
from perf_pipeline.paths import DataPaths
from perf_pipeline_tests.alert_stage import (
    materialize_alerts,
    regression_alerts,
    write_judgeable_day,
)

TODAY = dt.datetime.now(dt.UTC).date()
REFERENCE_AUC = 0.9
MODELS = """models:
  m:
    task: binary_classification
    start_date: 2024-01-01
    features: {numerical: [amount]}
    label_delay_days: 20
    min_labelled_rows: 100
    labels: {final_coverage: 0.9, alert_on_provisional: %s}
    thresholds:
      roc_auc: {min: 0.7, max_drop: 0.1}
"""


def _day(days_ago: int) -> dt.date:
    return TODAY - dt.timedelta(days=days_ago)


@pytest.fixture
def root(tmp_path: Path) -> DataPaths:
    paths = DataPaths(tmp_path / "root")
    paths.root.mkdir()
    _configure(paths, alert_on_provisional=False)
    con = connect()
    con.execute(
        "CREATE TEMP TABLE ref AS SELECT 'm' AS model_id, DATE '1970-01-01' AS date, "
        "'__all__' AS segment_column, '__all__' AS segment_value, 'roc_auc' AS metric, "
        f"{REFERENCE_AUC} AS value, 5000 AS n, false AS is_estimated"
    )
    write_single(con, paths, "reference_performance", "m", "SELECT * FROM ref")
    return paths


def _configure(paths: DataPaths, alert_on_provisional: bool) -> ModelConfig:
    flag = "true" if alert_on_provisional else "false"
    paths.models_file.write_text(MODELS % flag, encoding="utf-8")
    return load_models(paths.models_file)["m"]


def _performance(
    paths: DataPaths,
    day: dt.date,
    realized: tuple[float | None, int, float],
    estimated: tuple[float, int] | None = None,
) -> None:
    """The day's overall roc_auc rows: realized (value, labelled rows, coverage) and, when
    given, estimated (value, rows estimated on)."""
    base = {"model_id": "m", "date": day, "segment_column": "__all__", "segment_value": "__all__"}
    value, n, coverage = realized
    rows = [base | {"metric": "roc_auc", "value": value, "n": n, "label_coverage": coverage}]
    rows[0]["is_estimated"] = False
    if estimated is not None:
        rows.append(
            base
            | {"metric": "roc_auc", "value": estimated[0], "n": estimated[1]}
            | {"label_coverage": coverage, "is_estimated": True}
        )
    write_judgeable_day(paths, "m", day, rows)


def _alerts(paths: DataPaths, day: dt.date) -> dict[str, dict]:
    """The day's regression alerts by kind."""
    rows = regression_alerts(paths, "m", day)
    assert len({row["alert_id"] for row in rows}) == len(rows)
    return {row["kind"]: row for row in rows}


def test_provisional_realized_alert_is_held_back_until_the_day_is_final(
    root: DataPaths, tmp_path: Path
) -> None:
    model = load_models(root.models_file)["m"]
    day = _day(2)
    _performance(root, day, realized=(0.6, 500, 0.5))
    materialize_alerts(root, model, day, tmp_path / "home")
    assert _alerts(root, day) == {}

    _performance(root, day, realized=(0.6, 900, 0.9))  # coverage reaches final_coverage
    materialize_alerts(root, model, day, tmp_path / "home")
    realized = _alerts(root, day)["performance"]
    assert (realized["value"], realized["threshold"], realized["status"]) == (0.6, 0.7, "open")


def test_alert_on_provisional_releases_realized_alerts_at_once(
    root: DataPaths, tmp_path: Path
) -> None:
    model = _configure(root, alert_on_provisional=True)
    day = _day(2)
    _performance(root, day, realized=(0.6, 500, 0.5))
    materialize_alerts(root, model, day, tmp_path / "home")
    assert set(_alerts(root, day)) == {"performance"}


def test_too_few_labels_still_never_alert_even_when_allowed(root: DataPaths) -> None:
    model = _configure(root, alert_on_provisional=True)
    day = _day(2)
    _performance(root, day, realized=(0.5, 99, 0.1))
    assert evaluate_days(connect(), root, model, [day]) == []


def test_estimated_alert_before_the_labels_then_confirmed_once_final(
    root: DataPaths, tmp_path: Path
) -> None:
    model = load_models(root.models_file)["m"]
    day = _day(1)
    _performance(root, day, realized=(None, 0, 0.0), estimated=(0.6, 3000))
    materialize_alerts(root, model, day, tmp_path / "home")
    first = _alerts(root, day)
    assert set(first) == {"estimated_performance"}
    estimated = first["estimated_performance"]
    assert (estimated["status"], estimated["severity"]) == ("open", "warning")
    assert (estimated["value"], estimated["baseline"]) == (0.6, REFERENCE_AUC)
    assert "estimated roc_auc = 0.6 over 3000 rows" in estimated["message"]

    # The labels land: the realized value breaks the bound too; the estimate left over (the
    # unlabelled tenth) is in bounds now, and the day is final.
    _performance(root, day, realized=(0.62, 2700, 0.9), estimated=(0.8, 300))
    materialize_alerts(root, model, day, tmp_path / "home")
    settled = _alerts(root, day)
    assert set(settled) == {"estimated_performance", "performance"}
    confirmed = settled["estimated_performance"]
    assert confirmed["alert_id"] == estimated["alert_id"]
    assert confirmed["first_seen_at"] == estimated["first_seen_at"]
    assert confirmed["status"] == "confirmed"
    assert confirmed["value"] == 0.6  # the estimate that raised it
    assert confirmed["message"].startswith(estimated["message"] + " => confirmed:")
    assert settled["performance"]["status"] == "open"
    assert settled["performance"]["alert_id"] != confirmed["alert_id"]

    # Judging the final day again neither duplicates the verdict nor changes it.
    materialize_alerts(root, model, day, tmp_path / "home")
    assert _alerts(root, day)["estimated_performance"] == confirmed


def test_estimated_alert_not_confirmed_when_the_final_value_is_in_bounds(
    root: DataPaths,
) -> None:
    model = load_models(root.models_file)["m"]
    day = _day(1)
    _performance(root, day, realized=(None, 0, 0.0), estimated=(0.6, 3000))
    evaluate_days(connect(), root, model, [day])
    _performance(root, day, realized=(0.86, 2800, 0.93), estimated=(0.85, 200))

    settled = evaluate_days(connect(), root, model, [day])

    assert [(s.alert.kind, s.status) for s in settled] == [
        ("estimated_performance", "not_confirmed")
    ]
    assert "not confirmed: the final realized roc_auc = 0.86" in settled[0].alert.message
    assert _alerts(root, day)["estimated_performance"]["status"] == "not_confirmed"


def test_estimated_alert_stays_open_while_the_day_is_provisional(root: DataPaths) -> None:
    model = load_models(root.models_file)["m"]
    day = _day(3)
    _performance(root, day, realized=(None, 0, 0.0), estimated=(0.6, 3000))
    evaluate_days(connect(), root, model, [day])
    _performance(root, day, realized=(0.6, 1500, 0.5), estimated=(0.75, 1500))

    settled = evaluate_days(connect(), root, model, [day])

    assert [(s.alert.kind, s.status) for s in settled] == [("estimated_performance", "open")]


def test_estimated_alert_on_a_drop_from_the_reference(root: DataPaths) -> None:
    """0.78 is above `min` but 0.12 below the reference's realized 0.9 (max_drop 0.1)."""
    model = load_models(root.models_file)["m"]
    day = _day(1)
    _performance(root, day, realized=(None, 0, 0.0), estimated=(0.78, 3000))
    (settled,) = evaluate_days(connect(), root, model, [day])
    assert settled.alert.kind == "estimated_performance"
    assert settled.alert.threshold == pytest.approx(REFERENCE_AUC - 0.1)
    assert "worse than the reference 0.9" in settled.alert.message


def test_no_estimated_alert_on_a_final_day(root: DataPaths) -> None:
    """Its realized numbers are the answer: the estimate over the never-labelled rest is not."""
    model = load_models(root.models_file)["m"]
    day = _day(1)
    _performance(root, day, realized=(0.85, 2850, 0.95), estimated=(0.5, 150))
    assert evaluate_days(connect(), root, model, [day]) == []


@pytest.mark.parametrize("labelled", [0, 99])
def test_a_final_day_without_enough_labels_keeps_its_estimate_as_judge(
    root: DataPaths, labelled: int
) -> None:
    """The delay passed but the labels never came (or too few): nothing realized can be judged,
    so the estimate still alerts, and nothing can confirm it."""
    model = load_models(root.models_file)["m"]
    day = _day(25)
    coverage = labelled / 3000
    _performance(
        root, day, realized=(0.5 if labelled else None, labelled, coverage), estimated=(0.6, 3000)
    )

    settled = evaluate_days(connect(), root, model, [day])

    assert [(s.alert.kind, s.status) for s in settled] == [("estimated_performance", "open")]


def test_a_day_turns_final_when_its_delay_runs_out_and_is_judged_then(
    root: DataPaths, tmp_path: Path
) -> None:
    """No label arrives for the day at the end of its window: the run of the day its delay ran
    out with judges it again, raising what was held back and settling its estimated alert."""
    model = load_models(root.models_file)["m"]
    day = _day(25)
    _performance(root, day, realized=(None, 0, 0.0), estimated=(0.6, 3000))
    evaluate_days(connect(), root, model, [day], today=day + dt.timedelta(days=1))
    _performance(root, day, realized=(0.61, 2000, 0.7), estimated=(0.65, 1000))
    evaluate_days(connect(), root, model, [day], today=day + dt.timedelta(days=10))
    assert {k: a["status"] for k, a in _alerts(root, day).items()} == {
        "estimated_performance": "open"
    }
    closing = day + dt.timedelta(days=model.label_delay_days)
    _performance(root, closing, realized=(0.85, 300, 0.1))

    partitions = materialize_alerts(root, model, closing, tmp_path / "home")

    assert partitions == {closing.isoformat(), day.isoformat()}
    assert {k: a["status"] for k, a in _alerts(root, day).items()} == {
        "estimated_performance": "confirmed",
        "performance": "open",
    }
