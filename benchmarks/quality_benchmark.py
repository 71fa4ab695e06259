"""Time and peak memory of ingesting and validating one large day with the full generated suite.

A binary model with 10 numerical and 5 categorical features; a reference of 100,000 rows; one
landing day of N rows (1,000,000 by default) as a single Parquet file. Two stages are measured,
each in a fresh process so its peak RSS is its own:

- ingest: read the file as text, judge every row in DuckDB (quarantine rules), write the
  accepted and quarantined partitions;
- gate: the generated Great Expectations suite on the accepted day (plus the gate's own checks),
  written to `data_quality`.

Each stage reports its wall and its CPU seconds (every thread of the process, DuckDB's included):
on a shared machine the CPU seconds are the steadier figure.

    python benchmarks/quality_benchmark.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DAY = dt.date(2026, 1, 15)
NUMERICAL = [f"num_{i}" for i in range(10)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]

MODELS_YAML = f"""
models:
  bench:
    task: binary_classification
    features:
      numerical: {json.dumps(NUMERICAL)}
      categorical: {json.dumps(CATEGORICAL)}
    segments: [cat_0]
    start_date: 2026-01-01
"""

_STAGE = """
import json, resource, sys, time
from pathlib import Path
from perf_pipeline.config import load_models
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths
from datetime import date
stage, root, day = sys.argv[1], Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
paths = DataPaths(root)
model = load_models(paths.models_file)["bench"]
con = connect("4GB")
started, cpu_started = time.perf_counter(), time.process_time()
if stage == "reference":
    from perf_pipeline.tables.reference import materialize_reference
    materialize_reference(con, paths, model)
elif stage == "ingest":
    from perf_pipeline.ingest.log import write_ingest_log
    from perf_pipeline.ingest.predictions import ingest_predictions
    write_ingest_log(con, paths, model, "predictions", ingest_predictions(con, paths, model, [day]))
else:
    from perf_pipeline.quality.gate import assess_days, write_quality_rows
    verdicts = assess_days(con, paths, model, [day])
    write_quality_rows(con, paths, model, verdicts)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak_mib": peak}))
"""


def _frame(rng: np.random.Generator, n: int, day: dt.date) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    data: dict[str, object] = {
        "prediction_id": np.char.add(f"{day:%Y%m%d}-", np.arange(n).astype(str)),
        "timestamp": start + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
        "model_version": "v1",
    }
    for i, col in enumerate(NUMERICAL):
        data[col] = rng.normal(i, 1 + i / 10, n)
    for i, col in enumerate(CATEGORICAL):
        data[col] = rng.choice([f"v{j}" for j in range(3 + i)], n)
    score = rng.random(n)
    data["score"] = score
    data["prediction"] = (score >= 0.5).astype(int)
    data["label"] = (rng.random(n) < score).astype(int)
    return pd.DataFrame(data)


def _write_root(root: Path, rows: int) -> None:
    rng = np.random.default_rng(3)
    (root / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
    reference = root / "landing" / "reference" / "model=bench"
    reference.mkdir(parents=True)
    _frame(rng, 100_000, DAY - dt.timedelta(days=30)).to_parquet(reference / "ref.parquet")
    day = root / "landing" / "predictions" / "model=bench" / f"date={DAY.isoformat()}"
    day.mkdir(parents=True)
    _frame(rng, rows, DAY).drop(columns="label").to_parquet(day / "part-0.parquet")


def _stage(name: str, root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _STAGE, name, str(root), DAY.isoformat()],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        _write_root(root, args.rows)
        print(f"data written in {time.perf_counter() - began:.1f} s ({args.rows:,} rows)")
        _stage("reference", root)
        results: dict[str, list[dict]] = {"ingest": [], "gate": []}
        for _ in range(args.repeats):
            for stage in results:
                results[stage].append(_stage(stage, root))
        for stage, runs in results.items():
            seconds = [r["seconds"] for r in runs]
            cpu = statistics.median(r["cpu"] for r in runs)
            peak = max(r["peak_mib"] for r in runs)
            print(
                f"{stage:<7} median {statistics.median(seconds):6.2f} s "
                f"(min {min(seconds):.2f}, max {max(seconds):.2f}) over {len(runs)} runs, "
                f"CPU {cpu:.2f} s (all threads); peak RSS {peak:.0f} MiB"
            )


if __name__ == "__main__":
    main()
