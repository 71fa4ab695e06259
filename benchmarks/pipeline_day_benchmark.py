"""A 1,000,000-prediction day through the whole pipeline, against Evidently's presets alone.

A binary model with 10 numerical and 5 categorical features and one segment column; a reference
of N labelled rows; one landing day of N predictions (some features shifted) whose labels land
the same day. Three measurements, interleaved in each round so the shared machine's load weighs
on all of them alike:

- evidently: a fresh process reads the same data (the day joined with its labels) into pandas
  and runs `Report([DataDriftPreset(), ClassificationPreset()])`. Its compute time is taken
  inside the process (reading included, interpreter start and imports excluded, in Evidently's
  favour), and its process wall beside it.
- pipeline, first run: `perf-pipeline backfill --start D --end D` as a process (interpreter
  start, Dagster, every stage: reference, ingest, gate, labels, performance, drift, report,
  alerts) on a fresh data root, so the reference is built in the run.
- pipeline, daily: the same command again on that root with the day's report removed: the
  reference is current (its asset skips the rebuild) and every other stage does its work, as
  the daily schedule's run does.

CPU seconds and the peak resident set of the largest process are read from /proc for each
process tree (`process_tree_cpu.py`).

    python benchmarks/pipeline_day_benchmark.py [--rows 1000000] [--repeats 3] [--no-evidently]

`--no-evidently` times the pipeline alone (a 10,000,000-row day, where the question is the
pipeline's memory and Evidently's presets would take many minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))  # process_tree_cpu beside this file

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
    start_date: {DAY.isoformat()}
    label_delay_days: 0
"""

_EVIDENTLY = """
import json, os, sys, time, warnings
os.environ["DO_NOT_TRACK"] = "1"
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.presets import ClassificationPreset, DataDriftPreset
warnings.filterwarnings("ignore")
numerical, categorical = json.loads(sys.argv[4]), json.loads(sys.argv[5])
started = time.perf_counter()
current = pd.read_parquet(sys.argv[2]).merge(pd.read_parquet(sys.argv[3]), on="prediction_id")
reference = pd.read_parquet(sys.argv[1])
columns = [*numerical, *categorical, "score", "prediction", "label"]
definition = DataDefinition(
    numerical_columns=[*numerical, "score"],
    categorical_columns=[*categorical, "prediction"],
    classification=[BinaryClassification(
        target="label", prediction_labels="prediction", prediction_probas="score")],
)
snapshot = Report([DataDriftPreset(), ClassificationPreset()]).run(
    Dataset.from_pandas(current[columns], data_definition=definition),
    Dataset.from_pandas(reference[columns], data_definition=definition),
)
snapshot.dict()
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def _frame(rng: np.random.Generator, n: int, day: dt.date, shift: float) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    data: dict[str, object] = {
        "prediction_id": np.char.add(f"{day:%Y%m%d}-", np.arange(n).astype(str)),
        "timestamp": start + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
        "model_version": "v1",
    }
    for i, col in enumerate(NUMERICAL):
        data[col] = rng.normal(i + shift * (i % 3 == 0), 1 + i / 10, n)
    for i, col in enumerate(CATEGORICAL):
        data[col] = rng.choice([f"v{j}" for j in range(3 + i)], n)
    score = 1 / (1 + np.exp(-(0.8 * data[NUMERICAL[0]] - 0.5 + rng.normal(0, 1, n))))
    data["score"] = score
    data["prediction"] = (score >= 0.5).astype(int)
    data["label"] = (rng.random(n) < score).astype(int)
    return pd.DataFrame(data)


def write_landing(root: Path, rows: int) -> dict[str, Path]:
    """The models file and landing zone under `root`; the three files Evidently reads."""
    rng = np.random.default_rng(3)
    root.mkdir(parents=True)
    (root / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
    landing = root / "landing"
    files = {
        "reference": landing / "reference" / "model=bench" / "ref.parquet",
        "day": landing / "predictions" / "model=bench" / f"date={DAY}" / "part-0.parquet",
        "labels": landing / "labels" / "model=bench" / f"date={DAY}" / "labels.parquet",
    }
    for path in files.values():
        path.parent.mkdir(parents=True)
    day_before = DAY - dt.timedelta(days=30)
    _frame(rng, rows, day_before, 0.0).to_parquet(files["reference"], index=False)
    day = _frame(rng, rows, DAY, 0.3)
    day.drop(columns="label").to_parquet(files["day"], index=False)
    day[["prediction_id", "label"]].to_parquet(files["labels"], index=False)
    return files


def run_evidently(files: dict[str, Path]) -> dict[str, float]:
    from process_tree_cpu import run_measured

    command = [sys.executable, "-c", _EVIDENTLY, *map(str, files.values())]
    command += [json.dumps(NUMERICAL), json.dumps(CATEGORICAL)]
    done, wall, cpu, rss = run_measured(command, env={**os.environ, "DO_NOT_TRACK": "1"})
    if done.returncode:
        raise SystemExit(f"evidently failed:\n{done.stderr}")
    inside = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return {"seconds": inside, "wall": wall, "cpu": cpu, "rss_mib": rss / 2**20}


def run_pipeline(root: Path, home: Path) -> dict[str, float]:
    """The process's wall, CPU and peak RSS, and each stage's step seconds (`step:<stage>`)."""
    import time

    from dagster_steps import stage_seconds
    from process_tree_cpu import run_measured

    since = time.time()
    env = {**os.environ, "PERF_PIPELINE_HOME": str(root), "DAGSTER_HOME": str(home)}
    command = [sys.executable, "-m", "perf_pipeline.cli", "backfill"]
    command += ["--start", DAY.isoformat(), "--end", DAY.isoformat()]
    done, wall, cpu, rss = run_measured(command, env=env)
    if done.returncode not in (0, 1) or "FAILED" in done.stdout:
        raise SystemExit(f"pipeline failed:\n{done.stdout}\n{done.stderr}")
    report = root / "reports" / "bench" / f"{DAY}.html"
    if not report.exists():
        raise SystemExit("the day's report was not written")
    steps = {f"step:{k}": v for k, v in stage_seconds(home, since).items()}
    return {"seconds": wall, "wall": wall, "cpu": cpu, "rss_mib": rss / 2**20, **steps}


def _round(
    tmp: Path, landing: Path, files: dict[str, Path], i: int, evidently: bool
) -> dict[str, dict]:
    root, home = tmp / f"root-{i}", tmp / f"home-{i}"
    shutil.copytree(landing, root)
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    results = {"evidently": run_evidently(files)} if evidently else {}
    results["first run"] = run_pipeline(root, home)
    (root / "reports" / "bench" / f"{DAY}.html").unlink()
    results["daily"] = run_pipeline(root, home)
    shutil.rmtree(root)
    shutil.rmtree(home)
    return results


def _line(name: str, runs: list[dict[str, float]]) -> str:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    seconds = [r["seconds"] for r in runs]
    steps = sorted({k for r in runs for k in r if k.startswith("step:")}, key=lambda k: -med(k))
    return (
        f"{name:>10}: {med('seconds'):.1f} s (min {min(seconds):.1f}, max {max(seconds):.1f}), "
        f"process wall {med('wall'):.1f} s, CPU {med('cpu'):.1f} s, "
        f"peak RSS {med('rss_mib'):.0f} MiB"
        + "".join(f"\n{'':>12}{k[5:]} {med(k):.1f} s" for k in steps)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-evidently", action="store_true", help="time the pipeline alone")
    args = parser.parse_args()
    kinds = ("first run", "daily") if args.no_evidently else ("evidently", "first run", "daily")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        files = write_landing(tmp / "landing", args.rows)
        rounds = []
        for i in range(args.repeats):
            rounds.append(_round(tmp, tmp / "landing", files, i, not args.no_evidently))
            print(f"round {i + 1}: " + json.dumps(rounds[-1]), flush=True)
    print(f"{args.rows:,} rows, {args.repeats} rounds (medians):")
    for kind in kinds:
        print(_line(kind, [r[kind] for r in rounds]))
    if args.no_evidently:
        return
    for kind in ("first run", "daily"):
        ratios = [r["evidently"]["seconds"] / r[kind]["seconds"] for r in rounds]
        print(
            f"Evidently's compute / pipeline {kind} process wall, per round: "
            + ", ".join(f"{x:.2f}x" for x in ratios)
            + f" (median {statistics.median(ratios):.2f}x)"
        )


if __name__ == "__main__":
    main()
