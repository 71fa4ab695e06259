"""Confidence-based performance estimation: its cost on a large day and its accuracy.

1. Cost: a seeded day of N binary predictions (one segment column, no label landed) as Parquet,
   the performance step (`compute_performance` over a DuckDB view of it) timed three ways, each
   the median of `--repeats` runs: without any estimate (the registry's `estimate_sql` removed),
   with the estimates on raw scores, and with CBPE (scores calibrated through the stored
   isotonic curve, intervals from the reference's sampling error). The calibration is fitted
   once beforehand, as the pipeline does on first use of a reference.
2. Accuracy: a 30-day stream of 5,000 rows a day whose scores are mis-calibrated (score =
   p³ for the true probability p), reference of 20,000 rows; mean absolute error of each
   estimate against the realized metric (scikit-learn on the withheld labels), CBPE beside the
   raw-score estimate it replaces, and the share of days whose realized value falls inside the
   CBPE interval.
3. Regression (direct loss estimation): the loss models' fit, the performance step and DLE per
   day on N rows, and DLE's error against a constant-error baseline on heteroscedastic streams
   (`dle_benchmark.py` beside this file, which also runs alone; `--no-regression` skips it).

    python benchmarks/estimation_benchmark.py --rows 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.estimation.cbpe import fit_calibration
from perf_pipeline.metrics import registry
from perf_pipeline.metrics.estimation_sql import DayCalibration
from perf_pipeline.metrics.performance import ALL, compute_performance

DAY = dt.date(2026, 3, 1)
METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc")
MODEL = ModelConfig(
    model_id="bench", task="binary_classification", start_date=DAY, segments=["channel"]
)


def _rows(rng: np.random.Generator, n: int, labelled: bool) -> pd.DataFrame:
    truth = rng.beta(1, 1, n)
    frame = pd.DataFrame(
        {
            "date": DAY,
            "prediction_id": np.arange(n).astype(str),
            "score": truth**3,
            "channel": rng.choice(["web", "app", "store"], n),
        }
    )
    frame["label"] = np.where(rng.random(n) < truth, "1", "0") if labelled else None
    return frame


def _calibration(con: duckdb.DuckDBPyConnection, rng: np.random.Generator) -> DayCalibration:
    fitted = fit_calibration(con, MODEL, _rows(rng, 20_000, labelled=True), 100)
    curves = {col: (c["x"], c["y"]) for col, c in fitted["curves"].items()}
    return DayCalibration(curves=curves, se_units=fitted["se_units"])


def _timed(con, calibrations, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute_performance(con, MODEL, "day", calibrations)
        times.append(time.perf_counter() - start)
    return times


def _without_estimates() -> dict:
    task = Task.BINARY_CLASSIFICATION
    original = registry.METRICS[task]
    registry.METRICS[task] = tuple(replace(m, estimate_sql=None) for m in original)
    return {task: original}


def cost(rows: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    con = duckdb.connect()
    calibration = _calibration(con, rng)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "day.parquet"
        con.register("frame", _rows(rng, rows, labelled=False))
        con.execute(f"COPY frame TO '{path}' (FORMAT parquet)")
        con.unregister("frame")
        con.execute(f"CREATE VIEW day AS SELECT * FROM read_parquet('{path}')")
        saved = _without_estimates()
        try:
            none = _timed(con, None, repeats)
        finally:
            registry.METRICS.update(saved)
        raw = _timed(con, None, repeats)
        cbpe = _timed(con, {None: calibration}, repeats)
    breakpoints = len(calibration.curves["score"][0])
    print(f"\n{rows:,} rows, 1 segment column (3 values), {breakpoints} calibration breakpoints")
    for name, times in (("no estimates", none), ("raw-score estimates", raw), ("CBPE", cbpe)):
        print(
            f"  {name:20s} median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f})"
        )
    extra = statistics.median(cbpe) - statistics.median(none)
    print(f"  CBPE beyond the step without estimates: {extra:.3f} s")


def _realized(rows: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y, yhat = rows["label"].to_numpy() == "1", rows["score"].to_numpy() >= 0.5
    return {
        "accuracy": accuracy_score(y, yhat),
        "precision": precision_score(y, yhat),
        "recall": recall_score(y, yhat),
        "f1": f1_score(y, yhat),
        "specificity": recall_score(~y, ~yhat),
        "roc_auc": roc_auc_score(y, rows["score"]),
        "pr_auc": average_precision_score(y, rows["score"]),
    }


def accuracy(days: int, rows: int) -> None:
    rng = np.random.default_rng(1)
    con = duckdb.connect()
    calibration = _calibration(con, rng)
    parts = []
    for i in range(days):
        part = _rows(rng, rows, labelled=True)
        part["date"] = DAY + dt.timedelta(days=i)
        parts.append(part)
    stream = pd.concat(parts, ignore_index=True)
    con.register("day", stream.assign(label=None))
    outputs = {
        "raw": compute_performance(con, MODEL, "day", None),
        "cbpe": compute_performance(con, MODEL, "day", {None: calibration}),
    }
    records = []
    for day, part in stream.groupby("date"):
        for metric, realized in _realized(part).items():
            record = {"metric": metric}
            for name, out in outputs.items():
                row = out[
                    (out["date"] == day)
                    & (out["metric"] == metric)
                    & out["is_estimated"]
                    & (out["segment_column"] == ALL)
                ].iloc[0]
                record[name] = abs(row["value"] - realized)
                if name == "cbpe":
                    record["inside"] = row["ci_low"] <= realized <= row["ci_high"]
            records.append(record)
    table = pd.DataFrame(records).groupby("metric")[["raw", "cbpe", "inside"]].mean()
    table["raw / cbpe"] = table["raw"] / table["cbpe"]
    print(f"\n{days} days x {rows:,} rows, score = p**3; mean absolute error vs realized")
    print(table.loc[list(METRICS)].round(4).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--day-rows", type=int, default=5000)
    parser.add_argument("--no-regression", action="store_true")
    args = parser.parse_args()
    cost(args.rows, args.repeats)
    accuracy(args.days, args.day_rows)
    if not args.no_regression:
        regression(args.rows, args.repeats)


def regression(rows: int, repeats: int) -> None:
    """Section 3: `dle_benchmark`'s cost and accuracy (a script's folder is on its path)."""
    import dle_benchmark

    seconds = dle_benchmark.cost(rows, 50_000, repeats)
    print(f"\nDLE, {rows:,} rows, reference 50,000, median of {repeats}:")
    print(", ".join(f"{name} {value:.2f} s" for name, value in seconds.items()))
    errors = dle_benchmark.accuracy(streams=5)
    print("DLE vs constant error, mean absolute error (median of 5 streams of 30 days x 5,000):")
    print(", ".join(f"{name} {value:.4f}" for name, value in errors.items()))


if __name__ == "__main__":
    main()
