"""Days run out of order end with the tables of an in-order run, through the dependents sensor.

Day D's gate reads the volume of the days before it and a trailing reference reads their
predictions, so running days 3-4 before days 1-2 judges 3-4 against neighbours that were not
there yet. The `<model>__dependent_days` sensor sees the later predictions change and asks for
exactly the stale days' downstream stages; after that run the lake equals a single in-order run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from landing_zone import write_binary_root

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage

START = dt.date(2026, 3, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(4)]
MODEL = "ordered"
MODELS_YAML = f"""
models:
  {MODEL}:
    task: binary_classification
    features:
      numerical: [amount]
    start_date: {START.isoformat()}
    reference: {{source: trailing, days: 2}}
"""
# Columns that record when a row was written, not what it says.
VOLATILE = {"first_seen_at"}


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, first: dt.date, last: dt.date, **kw):
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        **kw.pop("tags", {}),
    }
    job = defs.resolve_job_def(daily_job_name(MODEL))
    result = job.execute_in_process(instance=instance, tags=tags, **kw)
    assert result.success


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, paths: DataPaths, cursor: str | None):
    sensor = defs.resolve_sensor_def(f"{MODEL}__dependent_days")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources={"storage": PipelineStorage(data_root=str(paths.root))},
    )
    result = sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor


def _table(paths: DataPaths, table: str) -> pd.DataFrame:
    if not has_files(paths, table, MODEL):
        return pd.DataFrame()
    frame = connect().execute(f"SELECT * FROM {read_table_sql(paths, table, MODEL)}").df()
    frame = frame.drop(columns=[c for c in VOLATILE if c in frame.columns])
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.mark.slow
def test_out_of_order_days_converge_to_the_in_order_tables(tmp_path: Path) -> None:
    ordered = write_binary_root(tmp_path / "in_order", MODELS_YAML, MODEL, DAYS)
    shuffled = write_binary_root(tmp_path / "out_of_order", MODELS_YAML, MODEL, DAYS)
    with dg.instance_for_test() as instance:
        defs = build_definitions(ordered.root)
        _run(defs, instance, DAYS[0], DAYS[-1])
    with dg.instance_for_test() as instance:
        defs = build_definitions(shuffled.root)
        _run(defs, instance, DAYS[2], DAYS[3])
        requests, cursor = _tick(defs, instance, shuffled, None)
        assert requests == []  # days 3-4 read nothing that changed after they were judged
        _run(defs, instance, DAYS[0], DAYS[1])
        requests, cursor = _tick(defs, instance, shuffled, cursor)
        assert [
            (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
            for r in requests
        ] == [(DAYS[2].isoformat(), DAYS[3].isoformat())]
        stages = {key.path[-1] for key in requests[0].asset_selection}
        assert stages == {
            "data_quality",
            "performance",
            "drift",
            "report",
            "review",
            "alerts",
            "dashboard",
        }
        assert (
            _table(shuffled, "drift")["date"].nunique() < _table(ordered, "drift")["date"].nunique()
        )

        request = requests[0]
        _run(defs, instance, DAYS[2], DAYS[3], asset_selection=request.asset_selection)
        assert _tick(defs, instance, shuffled, cursor)[0] == []  # nothing cascades

    for table in ("data_quality", "performance", "drift", "alerts"):
        pd.testing.assert_frame_equal(_table(shuffled, table), _table(ordered, table), rtol=1e-9)
