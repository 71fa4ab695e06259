"""How the report stage spends its time: only changed days are drawn again, and a run's days
are drawn by worker processes with the same result as in process (real Evidently, real
DuckDB, the four-day scenario of `report_scenario.py` run through Dagster once)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from perf_pipeline import executors, warm_workers
from perf_pipeline.config import load_models
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.reports import render_pool
from perf_pipeline.reports.daily import write_daily_reports
from perf_pipeline.reports.day_data import DayData, RunReader
from perf_pipeline.reports.standalone import stored_inputs_digest
from perf_pipeline_tests.report_scenario import (
    BLOCKED,
    DAYS,
    HEALTHY,
    MODEL,
    REGRESSED,
    definitions,
    run_range,
    write_scenario,
)

pytestmark = pytest.mark.slow  # one real run of the model over four days, then Evidently again
USABLE = [d for d in DAYS if d != BLOCKED]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory):
    paths = write_scenario(tmp_path_factory.mktemp("root"))
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("home"))) as instance:
        assert run_range(definitions(paths), instance, DAYS[0], DAYS[-1]).success
    return paths


@pytest.fixture(scope="module")
def model(paths):
    return load_models(paths.models_file)[MODEL]


def _report_times(paths) -> dict:
    return {d: paths.report_file(MODEL, d).stat().st_mtime_ns for d in USABLE}


def test_unchanged_days_keep_their_reports(paths, model) -> None:
    before = _report_times(paths)
    written = write_daily_reports(connect(), paths, model, DAYS)
    assert written.kept == USABLE and sorted(written.reports) == USABLE
    assert _report_times(paths) == before  # not one page rewritten
    assert BLOCKED in written.blocked


@pytest.mark.parametrize("changed", ["drift inputs", "labelled rows"])
def test_a_day_whose_data_changed_is_drawn_again(paths, model, changed) -> None:
    """A page's digest has two halves (the drift dashboard's inputs, all the inputs): a change
    in either, such as labels that have since arrived, draws the page again."""
    page = paths.report_file(MODEL, REGRESSED)
    digest = stored_inputs_digest(page)
    assert digest is not None
    drift_half, full_half = digest.split(".")
    assert len(drift_half) == len(full_half) == 64
    # As if the page had been drawn from other data.
    stale = f"{'0' * 64}.{full_half}" if changed == "drift inputs" else f"{drift_half}.{'0' * 64}"
    page.write_text(page.read_text(encoding="utf-8").replace(digest, stale), encoding="utf-8")
    written = write_daily_reports(connect(), paths, model, DAYS)
    assert REGRESSED not in written.kept and sorted(written.kept) == [HEALTHY, DAYS[2]]
    assert stored_inputs_digest(page) == digest


def test_workers_draw_every_day_as_the_process_does(paths, model, monkeypatch) -> None:
    in_process = {d: stored_inputs_digest(paths.report_file(MODEL, d)) for d in USABLE}
    for day in USABLE:
        paths.report_file(MODEL, day).unlink()
    monkeypatch.setattr(render_pool, "MIN_POOL_DAYS", 2)
    monkeypatch.setenv(warm_workers.WORKERS_ENV, "2")
    written = write_daily_reports(connect(), paths, model, DAYS)
    assert sorted(written.reports) == USABLE and written.kept == []
    for day in USABLE:
        html = paths.report_file(MODEL, day).read_text(encoding="utf-8")
        assert f"<title>{MODEL} {day.isoformat()}: Evidently report</title>" in html
        assert html.count("window.drawDashboard(") == 2
        assert stored_inputs_digest(paths.report_file(MODEL, day)) == in_process[day]


_COMMAND_THEN_MODULES = """
import sys
from perf_pipeline.cli import run
sys.argv[0] = "perf-pipeline"
code = run()
print("evidently imported:", "evidently" in sys.modules)
print("great_expectations imported:", "great_expectations" in sys.modules)
sys.exit(code)
"""


def _command_draws_the_day(copy: DataPaths, workers: str) -> tuple[str, list, bool]:
    """`perf-pipeline backfill` of the healthy day, its report drawn anew: the report's inputs
    digest, the day's `data_quality` rows, and whether Evidently or Great Expectations was
    imported in the command's own process."""
    root = copy.root
    copy.report_file(MODEL, HEALTHY).unlink()
    env = {**os.environ, warm_workers.WORKERS_ENV: workers, "DAGSTER_HOME": str(root / "home")}
    env.pop(executors.EXECUTOR_ENV, None)
    day = HEALTHY.isoformat()
    argv = ["--home", str(root), "backfill", "--start", day, "--end", day]
    done = subprocess.run(
        [sys.executable, "-c", _COMMAND_THEN_MODULES, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    digest = stored_inputs_digest(copy.report_file(MODEL, HEALTHY))
    assert digest is not None
    quality = connect().execute(
        f"SELECT * FROM {read_table_sql(copy, 'data_quality')} WHERE date = ? ORDER BY ALL",
        [HEALTHY],
    )
    imported = "imported: True" in done.stdout
    return digest, quality.fetchall(), imported


def test_the_command_validates_and_draws_a_day_in_warm_workers_not_its_own_process(
    paths, tmp_path
) -> None:
    """`perf-pipeline backfill` of one day starts the workers' server before it loads Dagster:
    the gate's rows and the report are the ones the process makes itself, and neither Great
    Expectations nor Evidently is imported in the command's process."""
    shutil.copytree(paths.root, tmp_path / "root")  # the rows name their files: one root
    copy = DataPaths(tmp_path / "root")
    in_process = _command_draws_the_day(copy, workers="1")
    assert in_process[2]  # the yardstick: validated and drawn in the command's own process
    in_workers = _command_draws_the_day(copy, workers="2")
    assert not in_workers[2]
    assert in_process[1]  # the day's checks are there to compare
    assert in_workers[:2] == in_process[:2]


def test_digest_ignores_row_order_and_sees_one_changed_label(paths, model) -> None:
    data = RunReader(connect(), paths, model, [HEALTHY]).read_day(HEALTHY)
    assert data is not None and data.labelled_rows > 0
    shuffled = data.labelled.sample(frac=1.0, random_state=1).reset_index(drop=True)
    relabelled = data.labelled.copy()
    relabelled.loc[0, "label"] = "0" if relabelled.loc[0, "label"] == "1" else "1"

    def digest(labelled: pd.DataFrame) -> str:
        return DayData(**{**data.__dict__, "labelled": labelled}).digest(model, "v")

    assert digest(shuffled) == digest(data.labelled) == data.digest(model, "v")
    assert digest(relabelled) != digest(data.labelled)
    assert data.digest(model, "v") != data.digest(model, "w")  # a new report version


def test_samples_are_bounded_and_the_reference_is_read_once_per_run(
    paths, model, monkeypatch
) -> None:
    from perf_pipeline.reports import day_data

    monkeypatch.setattr(day_data, "MAX_ROWS", 300)
    reader = RunReader(connect(), paths, model, USABLE)
    first, again = reader.read_day(HEALTHY), reader.read_day(REGRESSED)
    assert first is not None and again is not None
    assert (first.rows, len(first.current)) == (400, 300)  # the header keeps the full count
    assert (first.reference_rows, len(first.reference)) == (1000, 300)
    assert first.reference is again.reference  # sampled once per run, not once per day
    assert len(first.labelled) == 300 and first.labelled_rows == 400
