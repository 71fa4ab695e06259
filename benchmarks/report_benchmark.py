"""Time and size of one daily Evidently report, on the sample data's two models.

The sample's first days are run through the pipeline once (one run per model), then the report
stage alone is timed for one day of each model, `--repeats` times, and the median is printed
with the report's size on disk. Run it before and after a change to the report to compare.

    python benchmarks/report_benchmark.py [--repeats 5] [--day-index 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect
from perf_pipeline.reports.daily import write_daily_reports
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import SAMPLE_START, write_sample

PIPELINE_DAYS = 12


def _report_size(paths, model_id: str, day: dt.date) -> int:
    report = paths.report_file(model_id, day)
    shared = paths.reports / "_evidently" / "index.js"  # the old layout's shared script
    return report.stat().st_size + (shared.stat().st_size if shared.exists() else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--day-index", type=int, default=3)
    args = parser.parse_args()
    day = SAMPLE_START + dt.timedelta(days=args.day_index)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_sample(Path(tmp) / "root")
        models = list(load_models(paths.models_file).values())
        end = SAMPLE_START + dt.timedelta(days=PIPELINE_DAYS - 1)
        (Path(tmp) / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(tmp) / "home")) as instance:
            backfill(build_definitions(paths.root), instance, models, SAMPLE_START, end, "ERROR")
        for model in models:
            seconds = []
            for _ in range(args.repeats):
                # A report drawn from the same data is kept: remove it so each run draws it.
                paths.report_file(model.model_id, day).unlink(missing_ok=True)
                con = connect()
                started = time.perf_counter()
                write_daily_reports(con, paths, model, [day])
                seconds.append(time.perf_counter() - started)
                con.close()
            size = _report_size(paths, model.model_id, day)
            print(
                f"{model.model_id} {day}: median {statistics.median(seconds):.2f} s over "
                f"{args.repeats} runs (min {min(seconds):.2f}, max {max(seconds):.2f}); "
                f"report {size / 1e6:.2f} MB"
            )


if __name__ == "__main__":
    main()
