"""Runs that write at once: no lock error, the serial run's tables, readers never blocked.

Each run is its own process on one data root and one Dagster instance: first one
`perf-pipeline backfill` of both models, which runs them side by side in two worker processes,
then a re-run of a model's range beside that model's daily run of the next day, three commands.
A reader polls every view of `warehouse.duckdb` throughout.
The lake is Parquet written per (table, model, day) through a temporary file and a rename, and
`warehouse.duckdb` holds only views and is replaced by rename, so no process ever holds a DuckDB
file lock another one needs.

A daily run brings labels for earlier days, which it does not recompute (the late-labels sensor
does, as in production): the sensors' runs follow, and the result is compared with one serial
run of the whole range, where every day saw every label.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from lake_snapshots import assert_same_tables, snapshot
from pipeline_processes import ViewsReader, prepare_home, start_backfill, wait_all

from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import day, write_sample

DAYS = 5
RANGE_END, DAILY = day(DAYS - 2), day(DAYS - 1)


def _serial(root: Path, home: Path):
    paths = write_sample(root, days=DAYS)
    models = list(load_models(paths.models_file).values())
    with dg.instance_for_test(temp_dir=str(prepare_home(home))) as instance:
        outcomes = backfill(build_definitions(root), instance, models, day(0), DAILY, "WARNING")
    assert all(o.success for o in outcomes)
    return snapshot(paths)


@pytest.mark.slow  # four backfill processes and a serial run: a minute or two
def test_two_runs_at_once_write_the_serial_tables_and_never_block_readers(
    tmp_path: Path,
) -> None:
    expected = _serial(tmp_path / "serial", tmp_path / "serial_home")
    paths = write_sample(tmp_path / "parallel", days=DAYS)
    home = prepare_home(tmp_path / "dagster_home")
    reader = ViewsReader(paths)
    reader.start()
    try:
        # The two models of one backfill at once.
        log = tmp_path / "both.log"
        both = start_backfill(paths, home, day(0), RANGE_END, log=log, parallel=2)
        assert wait_all([both]) == [0], log.read_text()
        assert "Running 2 models at once" in log.read_text()
        # A model's range re-run beside its daily run of the next day.
        beside = [
            start_backfill(paths, home, day(0), RANGE_END, "card_fraud"),
            start_backfill(paths, home, DAILY, DAILY, "card_fraud"),
            start_backfill(paths, home, DAILY, DAILY, "store_demand"),
        ]
        assert wait_all(beside) == [0, 0, 0]
    finally:
        reader.stop()
    assert reader.errors == []
    assert reader.polls > 0
    assert reader.slowest_s < 10, "a reader waited on the writers"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 5 and all(r.is_success for r in runs), [r.status for r in runs]
        _assert_first_two_overlapped(instance)
        _run_late_label_sensors(paths, instance)
    assert_same_tables(expected, snapshot(paths))


def _assert_first_two_overlapped(instance: dg.DagsterInstance) -> None:
    """The one backfill's two runs (the oldest two) were under way at the same time."""
    records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)[:2]
    assert {r.dagster_run.tags["perf_pipeline/model"] for r in records} == {
        "card_fraud",
        "store_demand",
    }
    assert max(r.start_time for r in records) < min(r.end_time for r in records), "in turn"


def _run_late_label_sensors(paths: DataPaths, instance: dg.DagsterInstance) -> None:
    """What the daemon does next: each model's late-labels sensor, and the runs it asks for."""
    defs = build_definitions(paths.root)
    storage = PipelineStorage(data_root=str(paths.root))
    for model in ("card_fraud", "store_demand"):
        sensor = defs.resolve_sensor_def(f"{model}__late_labels")
        context = dg.build_sensor_context(
            instance=instance, definitions=defs, resources={"storage": storage}
        )
        job = defs.resolve_job_def(daily_job_name(model))
        for request in sensor.evaluate_tick(context).run_requests:
            assert job.execute_in_process(
                instance=instance, tags=request.tags, asset_selection=request.asset_selection
            ).success
