"""Confidence-based performance estimation: its cost on a large day and its accuracy.

1. Cost: a seeded day of N binary predictions (one segment column, no label landed) as Parquet,
   the performance step (`compute_performance` over a DuckDB view of it) timed four ways, each
   the median of `--repeats` runs taken in turn (one run of each per round, so a busy machine
   weighs on all alike): without any estimate (the registry's `estimate_sql` removed), with the
   estimates on raw scores, with CBPE as it was before (roc_auc and pr_auc over one level per
   distinct raw score, `_RAW_LEVELS`), and with CBPE as it is (scores calibrated through the
   stored isotonic curve, both AUCs over one level per distinct calibrated score, intervals
   from the reference's sampling error). Twice: continuous scores (about one level per row)
   and the same scores rounded to 3 decimals (ties, as logged scores often have). The
   calibration is fitted once beforehand, as the pipeline does on first use of a reference.
2. Accuracy: a 30-day stream of 5,000 rows a day whose scores are mis-calibrated (score =
   p³ for the true probability p), reference of 20,000 rows; mean absolute error of each
   estimate against the realized metric (scikit-learn on the withheld labels): the raw-score
   estimate, CBPE before (AUCs ranked by raw score) and CBPE now, and the share of days whose
   realized value falls inside the CBPE interval.
3. Regression (direct loss estimation): the loss models' fit, the performance step and DLE per
   day on N rows, before and after, and DLE's error against a constant-error baseline on
   heteroscedastic streams (`dle_benchmark.py` beside this file, which also runs alone;
   `--no-regression` skips it).

    python benchmarks/estimation_benchmark.py --rows 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Iterator
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


# CBPE as it was before: roc_auc and pr_auc over one level per distinct raw score `p`.
_RAW_LEVELS = replace(registry.SCORE_LEVELS[Task.BINARY_CLASSIFICATION], score="p")
_RAW_LEVEL_ROWS = tuple(
    (name, sql.replace("ORDER BY p_cal", "ORDER BY p")) for name, sql in registry._EST_LEVEL_ROWS
)
Variant = tuple[tuple, registry.ScoreLevels, dict | None]


def _raw_level_entries() -> tuple:
    return tuple(
        replace(m, estimate_row_sql=_RAW_LEVEL_ROWS) if m.estimate_over == "score_levels" else m
        for m in registry.METRICS[Task.BINARY_CLASSIFICATION]
    )


def _variants(calibration: DayCalibration) -> dict[str, Variant]:
    """Name -> (the binary registry entries, the score levels, the calibrations)."""
    current = registry.METRICS[Task.BINARY_CLASSIFICATION]
    levels = registry.SCORE_LEVELS[Task.BINARY_CLASSIFICATION]
    calibrated = {None: calibration}
    return {
        "no estimates": (tuple(replace(m, estimate_sql=None) for m in current), levels, None),
        "raw-score estimates": (current, levels, None),
        "CBPE, raw-score levels": (_raw_level_entries(), _RAW_LEVELS, calibrated),
        "CBPE": (current, levels, calibrated),
    }


@contextlib.contextmanager
def _registry(entries: tuple, levels: registry.ScoreLevels) -> Iterator[None]:
    """The binary registry entries and score levels swapped in, restored afterwards."""
    task = Task.BINARY_CLASSIFICATION
    original = registry.METRICS[task], registry.SCORE_LEVELS[task]
    registry.METRICS[task], registry.SCORE_LEVELS[task] = entries, levels
    try:
        yield
    finally:
        registry.METRICS[task], registry.SCORE_LEVELS[task] = original


def _interleaved(con, variants: dict[str, Variant], repeats: int) -> dict[str, list[float]]:
    """Each variant once per round, `repeats` rounds."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (entries, levels, calibrations) in variants.items():
            with _registry(entries, levels):
                start = time.perf_counter()
                compute_performance(con, MODEL, "day", calibrations)
                times[name].append(time.perf_counter() - start)
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
        for name in ("CBPE, raw-score levels", "CBPE"):
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
    outputs = {"raw": compute_performance(con, MODEL, "day", None)}
    with _registry(_raw_level_entries(), _RAW_LEVELS):
        outputs["cbpe_before"] = compute_performance(con, MODEL, "day", {None: calibration})
    outputs["cbpe"] = compute_performance(con, MODEL, "day", {None: calibration})
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
    columns = ["raw", "cbpe_before", "cbpe", "inside"]
    table = pd.DataFrame(records).groupby("metric")[columns].mean()
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
