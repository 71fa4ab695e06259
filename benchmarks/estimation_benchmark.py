"""Confidence-based performance estimation: its cost on a large day and its accuracy.

1. Cost: a seeded day of N binary predictions (one segment column, no label landed) as Parquet,
   the performance step (`compute_performance` over a DuckDB view of it) timed four ways, each
   the median of `--repeats` runs taken in turn (one run of each per round, so a busy machine
   weighs on all alike): without any estimate (the registry's `estimate_sql` removed), with the
   estimates on raw scores, with CBPE (scores calibrated through the stored isotonic curve,
   intervals from the reference's sampling error), and with CBPE as it was before its roc_auc
   and pr_auc read score levels (their window helpers over every wide row, `_ROW_WINDOWS`).
   Twice: continuous scores (about one level per row) and the same scores rounded to 3
   decimals (ties, as logged scores often have). The calibration is fitted once beforehand,
   as the pipeline does on first use of a reference.
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


# The estimated roc_auc and pr_auc as they were computed before the score levels: window
# helpers over every row of the group (the wide `ranked` relation), ties through rank().
_ROW_ORDER = "PARTITION BY {group} ORDER BY p DESC NULLS LAST"
_ROW_WINDOWS = (
    ("est_rows_at_or_above", f"count(p) OVER ({_ROW_ORDER})"),
    ("est_pos_at_or_above", f"sum(p_cal) OVER ({_ROW_ORDER})"),
    ("est_ties", f"count(p) OVER ({_ROW_ORDER}) - rank() OVER ({_ROW_ORDER}) + 1"),
)
_ROW_ESTIMATES = {
    "roc_auc": "sum((1 - p_cal) * (2 * est_pos_at_or_above - est_ties * p_cal) / 2) "
    "FILTER (WHERE p IS NOT NULL) / NULLIF(sum(p_cal) * sum(1 - p_cal), 0)",
    "pr_auc": "sum(p_cal * est_pos_at_or_above / est_rows_at_or_above) "
    "FILTER (WHERE p IS NOT NULL) / NULLIF(sum(p_cal), 0)",
}


def _variants(calibration: DayCalibration) -> dict[str, tuple[tuple, dict | None]]:
    """Name -> (the binary registry entries to run with, the calibrations)."""
    current = registry.METRICS[Task.BINARY_CLASSIFICATION]
    over_rows = tuple(
        replace(
            m,
            estimate_sql=_ROW_ESTIMATES[m.name],
            estimate_row_sql=_ROW_WINDOWS,
            estimate_over="rows",
        )
        if m.name in _ROW_ESTIMATES
        else m
        for m in current
    )
    calibrated = {None: calibration}
    return {
        "no estimates": (tuple(replace(m, estimate_sql=None) for m in current), None),
        "raw-score estimates": (current, None),
        "CBPE, AUCs over rows": (over_rows, calibrated),
        "CBPE": (current, calibrated),
    }


def _interleaved(con, variants: dict, repeats: int) -> dict[str, list[float]]:
    """Each variant once per round, `repeats` rounds; the registry is restored afterwards."""
    task = Task.BINARY_CLASSIFICATION
    original = registry.METRICS[task]
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(repeats):
            for name, (entries, calibrations) in variants.items():
                registry.METRICS[task] = entries
                start = time.perf_counter()
                compute_performance(con, MODEL, "day", calibrations)
                times[name].append(time.perf_counter() - start)
    finally:
        registry.METRICS[task] = original
    return times


def cost(rows: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    calibration = _calibration(con, rng)
    frame = _rows(rng, rows, labelled=False)
    breakpoints = len(calibration.curves["score"][0])
    for scores, day in (("continuous", frame), ("rounded to 3 decimals", _rounded(frame))):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "day.parquet"
            con.register("frame", day)
            con.execute(f"COPY frame TO '{path}' (FORMAT parquet)")
            con.unregister("frame")
            con.execute(f"CREATE OR REPLACE VIEW day AS SELECT * FROM read_parquet('{path}')")
            times = _interleaved(con, _variants(calibration), repeats)
        print(
            f"\n{rows:,} rows, scores {scores} ({day['score'].nunique():,} distinct), "
            f"1 segment column (3 values), {breakpoints} calibration breakpoints"
        )
        for name, runs in times.items():
            print(
                f"  {name:22s} median {statistics.median(runs):.3f} s "
                f"(min {min(runs):.3f}, max {max(runs):.3f})"
            )
        base = statistics.median(times["no estimates"])
        for name in ("CBPE, AUCs over rows", "CBPE"):
            extra = statistics.median(times[name]) - base
            print(f"  {name} beyond the step without estimates: {extra:.3f} s")


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(score=frame["score"].round(3))


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
