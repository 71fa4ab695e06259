"""CPU and wall of the review stage's picks on one large day, in process.

The day is the one `pipeline_day_benchmark.py` builds (N predictions, a binary model with 10
numerical and 5 categorical features, some features shifted, labels the same day). One backfill
of that day (a process, as the CLI runs it) writes the accepted predictions, `performance` and
`drift` the strata read; then the stage is timed in this process, `--repeats` times:

- pick: stage the day's rows, the regressed segments and the drifted features' z-scores, and
  rank each stratum (`review.sample.pick_rows`);
- write: `review_sample` and the review file (`review.sample.write_samples`).

CPU seconds count every thread (DuckDB's included). `--root` reuses a data root an earlier run
left (`--keep`), so the backfill is paid once.

    python benchmarks/review_benchmark.py [--rows 1000000] [--repeats 3] [--root DIR] [--keep DIR]
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

sys.path.insert(0, str(Path(__file__).parent))  # pipeline_day_benchmark beside this file


def _prepare(root: Path, rows: int) -> None:
    """The landing zone and one backfill of the day into `root/data`."""
    from pipeline_day_benchmark import DAY, write_landing

    write_landing(root / "data", rows)
    home = root / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "PERF_PIPELINE_HOME": str(root / "data"), "DAGSTER_HOME": str(home)}
    command = [sys.executable, "-m", "perf_pipeline.cli", "backfill"]
    command += ["--start", DAY.isoformat(), "--end", DAY.isoformat()]
    subprocess.run(command, env=env, check=True, capture_output=True)


def _time_stage(data: Path, repeats: int) -> dict[str, list[tuple[float, float]]]:
    from pipeline_day_benchmark import DAY

    from perf_pipeline.config import load_models
    from perf_pipeline.lake import connect
    from perf_pipeline.paths import DataPaths
    from perf_pipeline.review.sample import pick_rows, write_samples

    paths = DataPaths(data)
    model = load_models(paths.models_file)["bench"]
    con = connect("4GB")
    timings: dict[str, list[tuple[float, float]]] = {"pick": [], "write": []}
    for _ in range(repeats):
        for stage, run in (("pick", pick_rows), ("write", write_samples)):
            wall, cpu = time.perf_counter(), time.process_time()
            run(con, paths, model, [DAY])
            timings[stage].append((time.process_time() - cpu, time.perf_counter() - wall))
    picks = con.execute("SELECT stratum, count(*) FROM review_picks GROUP BY ALL ORDER BY ALL")
    print("picks: " + ", ".join(f"{s} {n}" for s, n in picks.fetchall()))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, help="a root an earlier run kept (skips the backfill)")
    parser.add_argument("--keep", type=Path, help="build the root here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or args.keep or Path(tmp) / "root"
        if args.root is None:
            began = time.perf_counter()
            _prepare(root, args.rows)
            print(f"day written and backfilled in {time.perf_counter() - began:.0f} s")
        timings = _time_stage(root / "data", args.repeats)
    for stage, runs in timings.items():
        cpu, wall = (statistics.median(r[i] for r in runs) for i in (0, 1))
        print(f"{stage:<6} median CPU {cpu:.2f} s, wall {wall:.2f} s over {len(runs)} runs")


if __name__ == "__main__":
    main()
