"""Wall time and peak memory of `perf-pipeline demo` on a fresh data root.

Each run starts from an empty temporary data root and Dagster home, so it measures what a new
user waits for: writing the sample data, the 60-day backfill of both models, the alerts and the
summary. Peak memory is the largest resident set of the process tree (`ru_maxrss` of the
children), read by the operating system after each run.

    python benchmarks/demo_benchmark.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A fresh parent per run, so the children's peak RSS it reports belongs to that run alone.
_MEASURE = (
    "import resource, subprocess, sys; "
    "quiet = subprocess.DEVNULL; "
    "subprocess.run(sys.argv[1:], check=True, stdout=quiet, stderr=quiet); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def one_run() -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one demo on an empty data root."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PERF_PIPELINE_HOME": str(Path(tmp) / "data")}
        env["DAGSTER_HOME"] = str(Path(tmp) / "dagster_home")
        demo = [sys.executable, "-m", "perf_pipeline.cli", "demo"]
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, *demo],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    return wall, int(out.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls, peaks = [], []
    for i in range(args.runs):
        wall, peak = one_run()
        walls.append(wall)
        peaks.append(peak)
        print(f"run {i + 1}: {wall:.1f} s wall, {peak:.0f} MiB peak RSS", flush=True)
    print(
        f"median of {args.runs}: {statistics.median(walls):.1f} s wall "
        f"(min {min(walls):.1f}, max {max(walls):.1f}); peak RSS {max(peaks):.0f} MiB"
    )


if __name__ == "__main__":
    main()
