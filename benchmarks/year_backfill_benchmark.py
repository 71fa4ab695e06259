"""A year of both sample models through `perf-pipeline backfill`, on a fresh data root.

Each run writes the sample landing zone for `--days` days (not timed) under a new temporary data
root and Dagster home, then times `perf-pipeline backfill` of the whole range as a process
(interpreter start included), as a user runs it. The Dagster event log then says where the time
went: each step's duration (`instance.get_run_step_stats`), summed per stage over both models.

`--flat` measures whether a day costs more as history grows, on its own data root: the same
range is backfilled in four commands, days 1-29, day 30 alone, days 31-364, day 365 alone, so
days 30 and 365 are each run as the daily schedule runs them (one-day runs) with 29 and 364 days
of history behind them. Their step times are compared; a stage that re-read the whole history
would cost more on day 365.

    python benchmarks/year_backfill_benchmark.py [--runs 3] [--days 365] [--flat]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # process_tree_cpu beside this file


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PERF_PIPELINE_HOME": str(tmp / "data")}
    env["DAGSTER_HOME"] = str(tmp / "dagster_home")
    return env


def _backfill(env: dict[str, str], first: dt.date, last: dt.date) -> tuple[float, float]:
    """Wall and CPU seconds (the whole process tree) of one `perf-pipeline backfill` process
    (the sample's blocked days make it exit 1)."""
    from process_tree_cpu import run_measured

    command = [sys.executable, "-m", "perf_pipeline.cli", "backfill"]
    command += ["--start", first.isoformat(), "--end", last.isoformat()]
    done, wall, cpu, _ = run_measured(command, env=env)
    if done.returncode not in (0, 1) or "FAILED" in done.stdout:
        raise SystemExit(f"backfill {first}..{last} failed:\n{done.stdout}\n{done.stderr}")
    return wall, cpu


def _stage_seconds(home: Path, since: float = 0.0) -> dict[str, float]:
    from dagster_steps import stage_seconds

    return stage_seconds(home, since)


def _prepare(tmp: Path, days: int) -> tuple[dict[str, str], dt.date]:
    from perf_pipeline.sample_data import SAMPLE_START, write_sample

    write_sample(tmp / "data", days=days)
    (tmp / "dagster_home").mkdir()
    (tmp / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return _env(tmp), SAMPLE_START


def one_year(days: int) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of the whole range in one command, and step seconds per stage."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, start = _prepare(tmp, days)
        wall, cpu = _backfill(env, start, start + dt.timedelta(days=days - 1))
        return wall, cpu, _stage_seconds(tmp / "dagster_home")


def flat_cost(days: int) -> tuple[float, dict[str, float], dict[str, float], float, float]:
    """Total wall of the split range; step seconds per stage and wall of day 30 and the last."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, start = _prepare(tmp, days)
        home = tmp / "dagster_home"
        day = [start + dt.timedelta(days=i) for i in range(days)]
        total = _backfill(env, day[0], day[28])[0]
        mark = time.time()
        early_wall = _backfill(env, day[29], day[29])[0]
        early = _stage_seconds(home, mark)
        total += early_wall + _backfill(env, day[30], day[-2])[0]
        mark = time.time()
        late_wall = _backfill(env, day[-1], day[-1])[0]
        late = _stage_seconds(home, mark)
        return total + late_wall, early, late, early_wall, late_wall


def report_floor(days: int) -> dict[str, list[float]]:
    """CPU seconds of each report drawn in this process, per model, after a backfill of `days`
    days: the floor a year's reports cost whatever the scheduling (one core per report)."""
    from perf_pipeline.config import load_models
    from perf_pipeline.lake import connect
    from perf_pipeline.paths import DataPaths
    from perf_pipeline.reports.daily import write_daily_reports

    floor: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, start = _prepare(tmp, days)
        _backfill(env, start, start + dt.timedelta(days=days - 1))
        paths = DataPaths(tmp / "data")
        for model in load_models(paths.models_file).values():
            floor[model.model_id] = []
            for i in range(days):
                day = start + dt.timedelta(days=i)
                report = paths.report_file(model.model_id, day)
                if not report.exists() or "blocked at the data-quality gate" in report.read_text():
                    continue
                report.unlink()
                began = time.process_time()
                write_daily_reports(connect(), paths, model, [day])
                floor[model.model_id].append(time.process_time() - began)
    return floor


def _print_stages(label: str, runs: list[dict[str, float]]) -> None:
    stages = sorted(
        {s for r in runs for s in r},
        key=lambda s: -statistics.median([r.get(s, 0.0) for r in runs]),
    )
    parts = [f"{s} {statistics.median([r.get(s, 0.0) for r in runs]):.1f}" for s in stages]
    print(f"  {label} step seconds (median per stage, both models): " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--flat", action="store_true", help="also the day-30 vs last-day runs")
    parser.add_argument("--no-year", action="store_true", help="skip the one-command series")
    parser.add_argument(
        "--report-floor", type=int, default=0, help="CPU per report over this many days"
    )
    args = parser.parse_args()
    if args.report_floor:
        for model_id, seconds in report_floor(args.report_floor).items():
            print(
                f"report floor {model_id}: {statistics.median(seconds):.2f} s CPU per report "
                f"(median of {len(seconds)}, min {min(seconds):.2f}, max {max(seconds):.2f})"
            )
    walls, cpus, stages, flats = [], [], [], []
    for i in range(args.runs):
        if not args.no_year:
            wall, cpu, per_stage = one_year(args.days)
            walls.append(wall)
            cpus.append(cpu)
            stages.append(per_stage)
            print(
                f"run {i + 1}: {args.days} days x 2 models in {wall:.1f} s wall, "
                f"{cpu:.1f} s CPU (process tree)",
                flush=True,
            )
            _print_stages(f"run {i + 1}", [per_stage])
        if args.flat:
            flats.append(flat_cost(args.days))
            total, early, late, early_wall, late_wall = flats[-1]
            print(
                f"run {i + 1} (split): {total:.1f} s wall; day 30 {early_wall:.1f} s wall, "
                f"{sum(early.values()):.1f} s steps; day {args.days} {late_wall:.1f} s wall, "
                f"{sum(late.values()):.1f} s steps",
                flush=True,
            )
            _print_stages("day 30", [early])
            _print_stages(f"day {args.days}", [late])
    if walls:
        print(
            f"median of {len(walls)}: {statistics.median(walls):.1f} s wall "
            f"(min {min(walls):.1f}, max {max(walls):.1f}); CPU {statistics.median(cpus):.1f} s"
        )
        _print_stages("year", stages)
    if flats:
        early = statistics.median([sum(f[1].values()) for f in flats])
        late = statistics.median([sum(f[2].values()) for f in flats])
        print(
            f"flat cost: day 30 {early:.2f} s of steps, day {args.days} {late:.2f} s "
            f"({late / early:.2f}x)"
        )
        _print_stages("day 30", [f[1] for f in flats])
        _print_stages(f"day {args.days}", [f[2] for f in flats])


if __name__ == "__main__":
    main()
