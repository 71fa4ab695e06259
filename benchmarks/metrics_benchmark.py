"""Wall time and peak memory of the performance and drift tables against Evidently 0.7.

A seeded day of N binary-classifier predictions (10 numerical and 5 categorical features, a
prediction, a score and a label) and a reference of the same size are written as Parquet to a
temporary directory. Each measurement then runs in a fresh child process, started from a fresh
parent that reports the child's peak RSS (`ru_maxrss` of its children), so one measurement's
memory never leaks into the next:

- ours: the `performance` table (`compute_performance`) and the `drift` table
  (`compute_drift_sql`) over DuckDB views of the Parquet files;
- evidently: `Report([DataDriftPreset(), ClassificationPreset()])` on pandas frames read from the
  same files.

Time is measured inside the child around the computation (reading the Parquet files included,
interpreter start and imports excluded), so both sides pay for loading the data they use.

    python benchmarks/metrics_benchmark.py --rows 1000000 --repeats 3
    python benchmarks/metrics_benchmark.py --rows 10000000 --repeats 1 --no-evidently
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERICAL = [f"num_{i}" for i in range(10)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
SEGMENT = "cat_0"
CHUNK_ROWS = 1_000_000
DAY = "2024-03-01"

# A fresh parent per measurement: its children's peak RSS belongs to that measurement alone.
_MEASURE = (
    "import resource, subprocess, sys; "
    "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True); "
    "print(out.stdout.strip().splitlines()[-1]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _chunk(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    """`n` rows; `shift` moves some features and the score, as a drifting day would."""
    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(NUMERICAL):
        if i % 3 == 0:
            values = rng.normal(shift * (i % 4), 1.0 + i / 10, n)
        elif i % 3 == 1:
            values = rng.lognormal(0.0, 0.5 + shift / 2, n)
        else:
            values = rng.integers(0, 1000, n).astype(np.float64) + shift * 10
        columns[name] = pa.array(values)
    for i, name in enumerate(CATEGORICAL):
        n_values = 3 + 4 * i
        weights = np.arange(1, n_values + 1, dtype=float) ** (1 + shift)
        codes = rng.choice(n_values, n, p=weights / weights.sum())
        labels = pa.array([f"v{j}" for j in range(n_values)])
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), labels)
    logit = 0.8 * columns[NUMERICAL[0]].to_numpy() - 0.5 + rng.normal(0, 1, n)
    score = 1 / (1 + np.exp(-logit))
    columns["score"] = pa.array(score)
    columns["prediction"] = pa.array((score >= 0.5).astype(np.int64))
    columns["label"] = pa.array((rng.random(n) < score).astype(np.int64))
    return pa.table(columns)


def write_data(folder: Path, rows: int, seed: int) -> dict[str, Path]:
    """Reference and day as Parquet, written chunk by chunk so 10M rows never sit in memory."""
    rng = np.random.default_rng(seed)
    paths = {"reference": folder / "reference.parquet", "day": folder / "day.parquet"}
    for side, shift in (("reference", 0.0), ("day", 0.3)):
        writer = None
        done = 0
        while done < rows:
            n = min(CHUNK_ROWS, rows - done)
            table = _chunk(rng, n, shift)
            ids = pa.array([f"{side}-{done + j}" for j in range(n)])
            table = table.append_column("prediction_id", ids)
            if writer is None:
                writer = pq.ParquetWriter(paths[side], table.schema)
            writer.write_table(table)
            done += n
        assert writer is not None
        writer.close()
    return paths


class SpillWatch:
    """The largest total size DuckDB's spill files reached, sampled every 50 ms on a thread."""

    def __init__(self, folder: str) -> None:
        import threading

        self.folder = Path(folder)
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            sizes = 0
            for path in self.folder.glob("*"):
                with contextlib.suppress(FileNotFoundError):  # deleted since listed
                    sizes += path.stat().st_size
            self.peak_bytes = max(self.peak_bytes, sizes)

    def __enter__(self) -> SpillWatch:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_ours(reference: str, day: str, temp_dir: str, memory_limit: str) -> dict[str, float]:
    """Both tables through DuckDB; returns wall seconds and the peak size of spilled data."""
    import time

    from perf_pipeline.config import ModelConfig
    from perf_pipeline.drift import compute_drift_sql
    from perf_pipeline.lake import connect
    from perf_pipeline.metrics.performance import compute_performance
    from perf_pipeline.sql import quote_literal

    model = ModelConfig(
        model_id="bench",
        task="binary_classification",
        start_date=DAY,
        features={"numerical": NUMERICAL, "categorical": CATEGORICAL},
        segments=[SEGMENT],
    )
    with SpillWatch(temp_dir) as spill:
        started = time.perf_counter()
        con = connect(memory_limit, temp_directory=temp_dir)
        con.execute(
            f"CREATE VIEW day AS SELECT DATE '{DAY}' AS date, * "
            f"FROM read_parquet({quote_literal(day)})"
        )
        con.execute(
            f"CREATE VIEW reference AS SELECT * FROM read_parquet({quote_literal(reference)})"
        )
        performance = compute_performance(con, model, "day")
        drift = compute_drift_sql(con, model, "reference", "day", "file")
        elapsed = time.perf_counter() - started
    assert len(performance) and len(drift) == len(NUMERICAL) + len(CATEGORICAL) + 3
    return {"seconds": elapsed, "spilled_mib": spill.peak_bytes / 2**20}


def run_evidently(reference: str, day: str) -> dict[str, float]:
    """Evidently's data drift and classification presets; returns wall seconds."""
    import time
    import warnings

    os.environ["DO_NOT_TRACK"] = "1"
    import pandas as pd
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    warnings.filterwarnings("ignore")
    definition = DataDefinition(
        numerical_columns=[*NUMERICAL, "score"],
        categorical_columns=[*CATEGORICAL, "prediction"],
        classification=[
            BinaryClassification(
                target="label", prediction_labels="prediction", prediction_probas="score"
            )
        ],
    )
    started = time.perf_counter()
    columns = [*NUMERICAL, *CATEGORICAL, "score", "prediction", "label"]
    current = pd.read_parquet(day, columns=columns)
    ref = pd.read_parquet(reference, columns=columns)
    for frame in (current, ref):
        for name in CATEGORICAL:
            frame[name] = frame[name].astype(str)
    report = Report([DataDriftPreset(), ClassificationPreset()])
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    snapshot.dict()
    return {"seconds": time.perf_counter() - started}


def measure(
    kind: str, paths: dict[str, Path], temp_dir: str, memory_limit: str
) -> tuple[dict[str, float], float]:
    """What the child reports (wall seconds, spilled MiB) and its peak RSS (MiB), for one run
    of `kind` in a fresh process tree."""
    child = [
        sys.executable,
        __file__,
        "--child",
        kind,
        str(paths["reference"]),
        str(paths["day"]),
        temp_dir,
        memory_limit,
    ]
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *child],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )
    seconds_line, rss_line = out.stdout.strip().splitlines()[-2:]
    return json.loads(seconds_line), int(rss_line) / 1024


def _summary(name: str, walls: list[float], peaks: list[float]) -> str:
    return (
        f"{name}: median {statistics.median(walls):.2f} s "
        f"(min {min(walls):.2f}, max {max(walls):.2f}), "
        f"peak RSS median {statistics.median(peaks):.0f} MiB (max {max(peaks):.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-evidently", action="store_true", help="time only ours")
    parser.add_argument(
        "--memory-limit", default="2GB", help="DuckDB memory_limit for ours; beyond it, it spills"
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, reference, day, temp_dir, memory_limit = args.child
        if kind == "ours":
            report = run_ours(reference, day, temp_dir, memory_limit)
        else:
            report = run_evidently(reference, day)
        print(json.dumps(report))
        return

    kinds = ["ours"] if args.no_evidently else ["ours", "evidently"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_data(Path(tmp), args.rows, args.seed)
        print(f"{args.rows:,} rows per side written to {tmp}", flush=True)
        results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in kinds}
        for repeat in range(args.repeats):
            for kind in kinds:
                spill = str(Path(tmp) / f"duckdb_tmp_{repeat}")
                report, peak = measure(kind, paths, spill, args.memory_limit)
                results[kind][0].append(report["seconds"])
                results[kind][1].append(peak)
                spilled = f", spilled {report['spilled_mib']:.0f} MiB" if kind == "ours" else ""
                print(
                    f"{kind} run {repeat + 1}: {report['seconds']:.2f} s, {peak:.0f} MiB{spilled}",
                    flush=True,
                )
    for kind in kinds:
        print(_summary(kind, *results[kind]))
    if not args.no_evidently:
        ours, theirs = (statistics.median(results[k][0]) for k in ("ours", "evidently"))
        ours_rss, theirs_rss = (statistics.median(results[k][1]) for k in ("ours", "evidently"))
        print(f"evidently / ours: {theirs / ours:.1f}x time, {theirs_rss / ours_rss:.1f}x peak RSS")


if __name__ == "__main__":
    main()
