"""A single day re-run after its input broke keeps nothing stale downstream.

The day runs with good inputs (it raises a drift alert and gets a report), then one of its
prediction files is truncated and the day alone is re-run: the gate blocks it, and the day's
performance, drift, report and regression alerts from the first run must be gone, with a
data-quality alert in their place.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, day_files, read_files_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.review.sample import review_file
from perf_pipeline.sample_data import day, write_sample

MODEL = "card_fraud"
DRIFTING_DAY = day(27)  # inside the sample's gradual_drift incident: a drift alert


def _rows(paths: DataPaths, table: str, on: dt.date, file_name: str | None = None) -> list[dict]:
    files = day_files(paths, table, MODEL, [on], file_name)
    if not files:
        return []
    relation = connect().execute(f"SELECT * FROM {read_files_sql(files)}")
    names = [d[0] for d in relation.description]
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def _run_day(defs: dg.Definitions, instance: dg.DagsterInstance, on: dt.date):
    job = defs.resolve_job_def(daily_job_name(MODEL))
    return job.execute_in_process(
        partition_key=on.isoformat(), instance=instance, raise_on_error=False
    )


def _truncate_a_prediction_file(paths: DataPaths, on: dt.date) -> Path:
    folder = paths.landing_day("predictions", MODEL, on)
    target = sorted(folder.glob("*.parquet"))[0]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.mark.slow
def test_a_blocked_rerun_clears_the_days_downstream_outputs(tmp_path: Path) -> None:
    paths = write_sample(tmp_path / "root", days=28)
    defs = build_definitions(paths.root)
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        first = _run_day(defs, instance, DRIFTING_DAY)
        assert first.success
        assert _rows(paths, "performance", DRIFTING_DAY)
        assert _rows(paths, "drift", DRIFTING_DAY)
        assert paths.report_file(MODEL, DRIFTING_DAY).exists()
        assert review_file(paths, MODEL, DRIFTING_DAY).exists()
        raised = _rows(paths, "alerts", DRIFTING_DAY, "regressions.parquet")
        assert {a["kind"] for a in raised} == {"drift"}

        broken = _truncate_a_prediction_file(paths, DRIFTING_DAY)
        second = _run_day(defs, instance, DRIFTING_DAY)

        assert _rows(paths, "performance", DRIFTING_DAY) == []
        assert _rows(paths, "drift", DRIFTING_DAY) == []
        # The day's page now says why it is blocked, naming the unreadable file; no stale
        # review file asks anyone about its predictions.
        page = paths.report_file(MODEL, DRIFTING_DAY).read_text(encoding="utf-8")
        assert "blocked at the data-quality gate" in page and "files_readable" in page
        assert not review_file(paths, MODEL, DRIFTING_DAY).exists()
        assert _rows(paths, "review_sample", DRIFTING_DAY) == []
        assert _rows(paths, "alerts", DRIFTING_DAY, "regressions.parquet") == []
        quality = _rows(paths, "alerts", DRIFTING_DAY, "data_quality.parquet")
        assert [a["metric_or_column"] for a in quality] == ["files_readable"]
        assert broken.name in quality[0]["message"]
        # Blocked downstream in the UI too: the re-run materialized none of the later stages.
        materialized = {
            e.asset_key.path[-1] for e in second.get_asset_materialization_events() if e.asset_key
        }
        assert materialized.isdisjoint({"performance", "drift", "report", "alerts"})
