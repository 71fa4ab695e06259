"""Direct loss estimation (regression): its cost on a large day and its accuracy.

1. Cost: a seeded regression day of N predictions (10 numerical and 5 categorical features, one
   of them the segment, no label landed) as Parquet, and a reference of `--reference-rows`
   stored as the lake stores it. Timed, each the median of `--repeats` runs:
   - fit: the loss models fitted on the reference and stored (what the first run after a
     reference change pays, once);
   - performance step: `compute_performance` over a DuckDB view of the day (today's step);
   - DLE per day: `dle_rows` with the stored loss models (load them, count and encode the
     day's rows, predict both losses on a stratified sample of a large day, group by day and
     segment);
   - and, in turn within the same rounds, `estimate_days` three ways: as it was (categories
     declared to the trees, every row predicted), with category codes as numbers and every row
     predicted, and as it is (codes, a sample of a large day).
2. Accuracy: `--streams` seeded streams of 30 days x 5,000 rows whose noise grows with a
   feature and in one region, the inputs moving towards both; reference of 20,000 rows. Mean
   absolute error of the estimated mae and rmse against the realized ones (scikit-learn on the
   withheld labels), beside the constant baseline (the reference's own mae and rmse every day),
   and the share of days whose realized value falls inside the estimate's interval. Medians over
   the streams. Three estimates: declared categories (before), category codes (now), and codes
   predicted on a 20 % sample (the share a 1,000,000-row day keeps), interval widened by it.

    python benchmarks/dle_benchmark.py --rows 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from perf_pipeline.config import ModelConfig
from perf_pipeline.estimation import dle
from perf_pipeline.estimation.dle import LossModel, fit_loss_model
from perf_pipeline.estimation.dle_days import (
    dle_rows,
    estimate_days,
    reference_loss_model,
    stored_model_path,
)
from perf_pipeline.estimation.dle_sampling import SAMPLING, Sampling
from perf_pipeline.lake import connect
from perf_pipeline.metrics.performance import ALL, compute_performance
from perf_pipeline.paths import DataPaths

DAY = dt.date(2026, 3, 1)
NUMERICAL = [f"num_{i}" for i in range(10)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
MODEL = ModelConfig(
    model_id="bench",
    task="regression",
    start_date=DAY,
    features={"numerical": NUMERICAL, "categorical": CATEGORICAL},
    segments=["cat_0"],
)
# Every row predicted (no day is this large); and the share of a 1,000,000-row day predicted.
WHOLE = Sampling(predict_rows=10**12)
ONE_IN_FIVE = Sampling(predict_rows=1000, min_group_rows=250)


@contextlib.contextmanager
def declared_categories() -> Iterator[None]:
    """Loss models fitted as they were before: categorical features declared to the trees, so
    scikit-learn re-encodes them on every predict."""
    original = dle._regressor
    mask = [False] * len(NUMERICAL) + [True] * len(CATEGORICAL) + [False]
    dle._regressor = lambda: original().set_params(categorical_features=mask)
    try:
        yield
    finally:
        dle._regressor = original


def _rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Features, prediction and label; the noise grows with num_0 and in cat_0 = 'c0'."""
    frame = pd.DataFrame(
        {c: rng.normal(shift if i == 0 else 0.0, 1.0, n) for i, c in enumerate(NUMERICAL)}
    )
    for i, column in enumerate(CATEGORICAL):
        frame[column] = rng.choice([f"c{k}" for k in range(3 + 2 * i)], n)
    frame["prediction"] = 50 + 4 * frame["num_0"] - 2 * frame["num_1"] + frame["num_2"]
    noise = np.exp(0.6 * frame["num_0"]) * np.where(frame["cat_0"] == "c0", 2.0, 1.0)
    frame["label"] = frame["prediction"] + rng.normal(0.0, noise)
    return frame


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interleaved(actions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each action, run in turn once per round, so load weighs on all alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(runs) for name, runs in times.items()}


def cost(rows: int, reference_rows: int, repeats: int) -> dict[str, float]:
    """Seconds: loss-model fit (once per reference), today's performance step, DLE per day,
    and `estimate_days` before (declared categories, every row), with codes, and now."""
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        paths = DataPaths(Path(folder))
        reference = paths.partition_dir("reference", MODEL.model_id, None)
        reference.mkdir(parents=True)
        reference_rows_frame = _rows(rng, reference_rows)
        reference_rows_frame.to_parquet(reference / "data.parquet", index=False)
        day = Path(folder) / "day.parquet"
        _rows(rng, rows).assign(
            date=DAY, prediction_id=np.arange(rows).astype(str), label=np.nan
        ).to_parquet(day, index=False)
        con = connect()
        con.execute(f"CREATE VIEW scored AS SELECT * FROM read_parquet('{day}')")
        stored = stored_model_path(paths, MODEL)

        def fit() -> None:
            stored.unlink(missing_ok=True)
            reference_loss_model(con, paths, MODEL)

        fitted = _median_seconds(fit, repeats)
        with declared_categories():
            before = fit_loss_model(reference_rows_frame, NUMERICAL, CATEGORICAL)
        codes = fit_loss_model(reference_rows_frame, NUMERICAL, CATEGORICAL)
        assert before is not None and codes is not None

        def estimate(loss_model: LossModel, sampling: Sampling) -> Callable[[], object]:
            return lambda: estimate_days(con, MODEL, "scored", [DAY], loss_model, sampling)

        _print_sampling_effect(con, codes)
        seconds = _interleaved(
            {
                "performance_step": lambda: compute_performance(con, MODEL, "scored"),
                "dle_per_day": lambda: dle_rows(con, paths, MODEL, [DAY], scored="scored"),
                "before: categories, every row": estimate(before, WHOLE),
                "codes, every row": estimate(codes, WHOLE),
                "now: codes, sampled": estimate(codes, SAMPLING),
            },
            repeats,
        )
        con.close()
    return {"fit": fitted, **seconds}


VARIANTS = ("before", "codes", "sampled")


def _print_sampling_effect(con: duckdb.DuckDBPyConnection, loss_model: LossModel) -> None:
    """What predicting a sample of the day changes in the overall estimate and its interval."""
    whole = estimate_days(con, MODEL, "scored", [DAY], loss_model, WHOLE)
    sampled = estimate_days(con, MODEL, "scored", [DAY], loss_model, SAMPLING)
    for metric in ("mae", "rmse"):
        w, s = _overall(whole, metric), _overall(sampled, metric)
        print(
            f"  {metric}: every row {w['value']:.5f} (interval ± {w['ci_high'] - w['value']:.5f}), "
            f"sampled {s['value']:.5f} (± {s['ci_high'] - s['value']:.5f})"
        )


def _overall(estimated: list[dict[str, object]], metric: str) -> dict[str, object]:
    return next(r for r in estimated if r["segment_column"] == ALL and r["metric"] == metric)


def _stream_errors(seed: int, days: int = 30, rows: int = 5000) -> dict[str, float]:
    """Per variant and metric, the mean absolute error over the stream's days and the share of
    day-metrics inside the interval; the constant baseline's error beside them."""
    rng = np.random.default_rng(seed)
    reference = _rows(rng, 20_000)
    with declared_categories():
        before = fit_loss_model(reference, NUMERICAL, CATEGORICAL)
    codes = fit_loss_model(reference, NUMERICAL, CATEGORICAL)
    assert before is not None and codes is not None
    estimators = {
        "before": (before, WHOLE),
        "codes": (codes, WHOLE),
        "sampled": (codes, ONE_IN_FIVE),
    }
    constant = {
        "mae": mean_absolute_error(reference["label"], reference["prediction"]),
        "rmse": root_mean_squared_error(reference["label"], reference["prediction"]),
    }
    errors: dict[str, list[float]] = {}
    con = duckdb.connect()
    for d in range(days):
        day = _rows(rng, rows, shift=0.03 * d)
        realized = {
            "mae": mean_absolute_error(day["label"], day["prediction"]),
            "rmse": root_mean_squared_error(day["label"], day["prediction"]),
        }
        con.register(
            "day",
            day.assign(
                date=DAY, prediction_id=[f"{seed}-{d}-{i}" for i in range(rows)], label=np.nan
            ),
        )
        for name, (loss_model, sampling) in estimators.items():
            estimated = estimate_days(con, MODEL, "day", [DAY], loss_model, sampling)
            for metric in ("mae", "rmse"):
                row = _overall(estimated, metric)
                errors.setdefault(f"{name}_{metric}", []).append(
                    abs(row["value"] - realized[metric])
                )
                inside = row["ci_low"] <= realized[metric] <= row["ci_high"]
                errors.setdefault(f"{name}_inside", []).append(float(inside))
        for metric in ("mae", "rmse"):
            errors.setdefault(f"const_{metric}", []).append(
                abs(constant[metric] - realized[metric])
            )
        con.unregister("day")
    con.close()
    return {k: float(np.mean(v)) for k, v in errors.items()}


def accuracy(streams: int) -> dict[str, float]:
    """Medians over `streams` seeded streams of each mean absolute error and the coverage."""
    runs = [_stream_errors(seed) for seed in range(streams)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--streams", type=int, default=5)
    args = parser.parse_args()
    seconds = cost(args.rows, args.reference_rows, args.repeats)
    print(
        f"cost ({args.rows:,} rows, reference {args.reference_rows:,}, median of {args.repeats}): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
    )
    errors = accuracy(args.streams)
    print(f"accuracy (median of {args.streams} streams, 30 days x 5,000 rows):")
    for metric in ("mae", "rmse"):
        print(
            f"  {metric}: constant {errors[f'const_{metric}']:.4f}; "
            + "; ".join(f"{v} {errors[f'{v}_{metric}']:.4f}" for v in VARIANTS)
        )
    print(
        "  inside the interval: " + "; ".join(f"{v} {errors[f'{v}_inside']:.0%}" for v in VARIANTS)
    )


if __name__ == "__main__":
    main()
