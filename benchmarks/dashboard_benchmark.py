"""Build time and size of a model's trend dashboard over a year of daily tables.

A seeded year (365 days) of the tables the dashboard reads is written to a temporary data root
for one binary classifier with 20 features and a 3-value segment: `performance` (8 overall
metrics realized and estimated, and per segment), `drift` (20 features, prediction, score and
the dataset row, each day), `ingest_log`, `data_quality` (30 expectations a day, a few blocked
days), `alerts` (a regression and a drift episode) and `reference_performance`, each written as
one Parquet file per (table, model, day) through the lake's own writer, as the pipeline does.
Four metrics carry thresholds, so the timeline has four metric rows.

Then `write_dashboards` (model page and index) runs `--runs` times in this process and the
median wall time is reported, with the first (cold) run apart: it also imports Plotly and
compresses its bundle, once per process. Targets: < 2 s, < 5 MB.

    python benchmarks/dashboard_benchmark.py --runs 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from perf_pipeline import schemas
from perf_pipeline.config import ModelConfig
from perf_pipeline.dashboard import write_dashboards
from perf_pipeline.lake import connect, write_frame_partitions, write_single
from perf_pipeline.paths import DataPaths

MODEL_ID = "year_model"
FEATURES = [f"f_{i:02d}" for i in range(20)]
METRICS = ["roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "specificity", "brier"]
SEGMENT_VALUES = ["web", "app", "pos"]
START = dt.date(2025, 1, 1)


def year_model() -> ModelConfig:
    return ModelConfig(
        model_id=MODEL_ID,
        task="binary_classification",
        features={"numerical": FEATURES[:15], "categorical": FEATURES[15:]},
        segments=["channel"],
        start_date=START,
        thresholds={
            "roc_auc": {"min": 0.75, "max_drop": 0.05},
            "recall": {"min": 0.4},
            "f1": {"max_drop": 0.1},
            "brier": {"max": 0.1},
            "drift_share": {"max": 0.5},
        },
    )


def _performance(days: list[dt.date], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for i, day in enumerate(days):
        decay = 0.2 if 200 <= i < 215 else 0.0
        coverage = min(1.0, (len(days) - i) / 30)
        for segment_column, values in (("__all__", ["__all__"]), ("channel", SEGMENT_VALUES)):
            for value in values:
                n = 3000 if value == "__all__" else 1000
                for metric in METRICS:
                    base = 0.9 - decay + rng.normal(0, 0.01) if metric != "brier" else 0.05
                    for estimated in (False, True):
                        v = base + (0.005 if estimated else 0) - (decay if estimated else 0)
                        rows.append(
                            (
                                MODEL_ID,
                                day,
                                segment_column,
                                value,
                                metric,
                                v,
                                n,
                                v - 0.02,
                                v + 0.02,
                                coverage,
                                estimated,
                                "threshold",
                            )
                        )
    return pd.DataFrame(rows, columns=list(schemas.PERFORMANCE))


def _drift(days: list[dt.date], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for i, day in enumerate(days):
        shifted = 100 <= i < 110
        drifted_count = 0
        for column in [*FEATURES, "prediction", "score"]:
            statistic = rng.uniform(0.0, 0.05) + (0.2 if shifted and column < "f_12" else 0)
            drifted = statistic >= 0.1
            drifted_count += drifted
            rows.append(
                (
                    MODEL_ID,
                    day,
                    column,
                    "wasserstein",
                    statistic,
                    None,
                    0.1,
                    drifted,
                    "file",
                    statistic * 1.3,
                )
            )
        share = drifted_count / 22
        rows.append(
            (
                MODEL_ID,
                day,
                "__dataset__",
                "share_of_drifted_columns",
                share,
                None,
                0.5,
                share >= 0.5,
                "file",
                None,
            )
        )
    return pd.DataFrame(rows, columns=list(schemas.DRIFT))


def _ingest_log(days: list[dt.date], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for day in days:
        read = int(rng.integers(2800, 3200))
        quarantined = int(rng.integers(0, 10))
        rows.append(
            (
                MODEL_ID,
                day,
                "predictions",
                1,
                read,
                read - quarantined,
                quarantined,
                None,
                None,
                None,
            )
        )
        rows.append((MODEL_ID, day, "labels", 1, 2500, 2500, 0, None, None, None))
    return pd.DataFrame(rows, columns=list(schemas.INGEST_LOG))


def _data_quality(days: list[dt.date]) -> pd.DataFrame:
    rows = []
    for i, day in enumerate(days):
        for j in range(30):
            failed = i % 90 == 45 and j == 0
            rows.append(
                (
                    MODEL_ID,
                    day,
                    f"expectation_{j}",
                    FEATURES[j % 20],
                    not failed,
                    "1.0",
                    0,
                    "error" if j < 5 else "warning",
                    None,
                )
            )
    return pd.DataFrame(rows, columns=list(schemas.DATA_QUALITY))


def _alerts(days: list[dt.date]) -> pd.DataFrame:
    rows = []
    for i, day in enumerate(days):
        if 200 <= i < 215:
            rows.append(
                (
                    f"p{i}",
                    MODEL_ID,
                    day,
                    "performance",
                    "roc_auc",
                    0.7,
                    0.9,
                    0.85,
                    "error",
                    "open",
                    pd.Timestamp(day, tz="UTC"),
                    f"{MODEL_ID} {day}: roc_auc = 0.7; below the minimum 0.75",
                )
            )
        if 100 <= i < 110:
            rows.append(
                (
                    f"d{i}",
                    MODEL_ID,
                    day,
                    "drift",
                    "__dataset__",
                    0.55,
                    None,
                    0.5,
                    "warning",
                    "open",
                    pd.Timestamp(day, tz="UTC"),
                    f"{MODEL_ID} {day}: 55% of columns drifted",
                )
            )
    # The first twelve columns; the lake's writer adds any later ones as NULL.
    return pd.DataFrame(rows, columns=list(schemas.ALERTS)[:12])


def write_year(paths: DataPaths, days_count: int = 365, seed: int = 7) -> ModelConfig:
    """The year's tables under `paths`, the way the pipeline lays them out."""
    rng = np.random.default_rng(seed)
    days = [START + dt.timedelta(days=i) for i in range(days_count)]
    con = connect()
    tables = {
        "performance": (_performance(days, rng), schemas.PERFORMANCE),
        "drift": (_drift(days, rng), schemas.DRIFT),
        "ingest_log": (_ingest_log(days, rng), schemas.INGEST_LOG),
        "data_quality": (_data_quality(days), schemas.DATA_QUALITY),
        "alerts": (_alerts(days), schemas.ALERTS),
    }
    for table, (frame, schema) in tables.items():
        write_frame_partitions(con, paths, table, MODEL_ID, frame, schema, days)
    reference = _performance([dt.date(1970, 1, 1)], rng)
    con.register("reference_rows", reference)
    write_single(con, paths, "reference_performance", MODEL_ID, "SELECT * FROM reference_rows")
    con.close()
    folder = paths.reports / MODEL_ID
    folder.mkdir(parents=True, exist_ok=True)
    for day in days:  # the daily report links (empty pages are enough to be listed)
        (folder / f"{day.isoformat()}.html").write_text("<html></html>", encoding="utf-8")
    return year_model()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = DataPaths(Path(tmp))
        began = time.perf_counter()
        model = write_year(paths, args.days)
        print(f"wrote {args.days} days of tables in {time.perf_counter() - began:.1f} s")
        from perf_pipeline.resources import PipelineStorage

        timings, cpu, size = [], [], 0
        with PipelineStorage(data_root=tmp).get_connection() as con:
            for _ in range(args.runs + 1):
                cpu_before = time.process_time()
                result = write_dashboards(con, paths, model, [model])
                cpu.append(time.process_time() - cpu_before)
                timings.append(result.seconds)
                size = result.size_bytes
        print(f"first (cold) build: {timings[0]:.2f} s")
        print(
            f"median of {args.runs} builds: {statistics.median(timings[1:]):.2f} s wall "
            f"(min {min(timings[1:]):.2f}, max {max(timings[1:]):.2f}), "
            f"{statistics.median(cpu[1:]):.2f} s CPU (all threads); load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"dashboard size: {size / 1e6:.2f} MB ({size:,} bytes); state {result.state}")


if __name__ == "__main__":
    main()
