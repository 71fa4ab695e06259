"""Direct loss estimation (regression): its cost on a large day and its accuracy.

1. Cost: a seeded regression day of N predictions (10 numerical and 5 categorical features, one
   of them the segment, no label landed) as Parquet, and a reference of `--reference-rows`
   stored as the lake stores it. Timed, each the median of `--repeats` runs:
   - fit: the loss models fitted on the reference and stored (what the first run after a
     reference change pays, once);
   - performance step: `compute_performance` over a DuckDB view of the day (today's step);
   - DLE per day: `dle_rows` with the stored loss models (load them, read the day's rows,
     predict both losses, group by day and segment).
2. Accuracy: `--streams` seeded streams of 30 days x 5,000 rows whose noise grows with a
   feature and in one region, the inputs moving towards both; reference of 20,000 rows. Mean
   absolute error of the estimated mae and rmse against the realized ones (scikit-learn on the
   withheld labels), beside the constant baseline (the reference's own mae and rmse every day),
   and the share of days whose realized value falls inside the estimate's interval. Medians over
   the streams.

    python benchmarks/dle_benchmark.py --rows 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from perf_pipeline.config import ModelConfig
from perf_pipeline.estimation.dle import fit_loss_model
from perf_pipeline.estimation.dle_days import dle_rows, reference_loss_model, stored_model_path
from perf_pipeline.lake import connect
from perf_pipeline.metrics.performance import compute_performance
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


def _median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cost(rows: int, reference_rows: int, repeats: int) -> dict[str, float]:
    """Seconds: loss-model fit (once per reference), today's performance step, DLE per day."""
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        paths = DataPaths(Path(folder))
        reference = paths.partition_dir("reference", MODEL.model_id, None)
        reference.mkdir(parents=True)
        _rows(rng, reference_rows).to_parquet(reference / "data.parquet", index=False)
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
        step = _median_seconds(lambda: compute_performance(con, MODEL, "scored"), repeats)
        dle_rows(con, paths, MODEL, [DAY], scored="scored")  # warm: the stored fit exists
        per_day = _median_seconds(
            lambda: dle_rows(con, paths, MODEL, [DAY], scored="scored"), repeats
        )
        con.close()
    return {"fit": fitted, "performance_step": step, "dle_per_day": per_day}


def _stream_errors(seed: int, days: int = 30, rows: int = 5000) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    reference = _rows(rng, 20_000)
    loss_model = fit_loss_model(reference, NUMERICAL, CATEGORICAL)
    assert loss_model is not None
    constant = {
        "mae": mean_absolute_error(reference["label"], reference["prediction"]),
        "rmse": root_mean_squared_error(reference["label"], reference["prediction"]),
    }
    errors: dict[str, list[float]] = {
        k: [] for k in ("dle_mae", "const_mae", "dle_rmse", "const_rmse")
    }
    inside = []
    for d in range(days):
        day = _rows(rng, rows, shift=0.03 * d)
        absolute, squared = loss_model.losses(day.drop(columns="label"))
        estimate = {"mae": float(absolute.mean()), "rmse": float(np.sqrt(squared.mean()))}
        realized = {
            "mae": mean_absolute_error(day["label"], day["prediction"]),
            "rmse": root_mean_squared_error(day["label"], day["prediction"]),
        }
        for metric in ("mae", "rmse"):
            errors[f"dle_{metric}"].append(abs(estimate[metric] - realized[metric]))
            errors[f"const_{metric}"].append(abs(constant[metric] - realized[metric]))
            low, high = loss_model.interval(metric, estimate[metric], rows)
            inside.append(low <= realized[metric] <= high)
    result = {k: float(np.mean(v)) for k, v in errors.items()}
    result["inside"] = float(np.mean(inside))
    return result


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
    print(
        f"accuracy (median of {args.streams} streams, 30 days x 5,000 rows): "
        f"mae: DLE {errors['dle_mae']:.4f} vs constant {errors['const_mae']:.4f}; "
        f"rmse: DLE {errors['dle_rmse']:.4f} vs constant {errors['const_rmse']:.4f}; "
        f"realized inside the interval on {errors['inside']:.0%} of day-metrics"
    )


if __name__ == "__main__":
    main()
