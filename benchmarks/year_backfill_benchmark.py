"""A year of both sample models through `perf-pipeline backfill`, on a fresh data root.

Each run writes the sample landing zone for `--days` days (not timed) under a new temporary data
root and Dagster home, then times `perf-pipeline backfill` of the whole range as a process
(interpreter start included), as a user runs it: both models side by side (one process each,
the command's default on a machine with two cores or more). The Dagster event log then says
where the time went: each step's duration (`instance.get_run_step_stats`), summed per stage over
both models.

`--flat` measures whether a day costs more as history grows: after the year's run, its last day
is run again alone `--daily-repeats` times, as the daily schedule runs a day (its report removed
first, so it is drawn again); the same is done for day 30 on a root holding 30 days. A stage that
re-read the whole history would cost more with 364 days behind it than with 29. Medians of the
repeats are compared, stage by stage.

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


def milestones(home: Path) -> dict[str, float]:
    from dagster_steps import milestones as run_milestones

    return run_milestones(home)


def _stage_seconds(home: Path, since: float = 0.0) -> dict[str, float]:
    from dagster_steps import stage_seconds

    return stage_seconds(home, since)


def _prepare(tmp: Path, days: int) -> tuple[dict[str, str], dt.date]:
    from perf_pipeline.sample_data import SAMPLE_START, write_sample

    write_sample(tmp / "data", days=days)
    (tmp / "dagster_home").mkdir()
    (tmp / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return _env(tmp), SAMPLE_START


def one_year(days: int, daily_repeats: int = 0) -> tuple[float, float, dict, list[tuple]]:
    """Wall and CPU seconds of the whole range in one command, step seconds per stage, and
    `daily_repeats` one-day runs of the last day afterwards (`_daily_runs`)."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, start = _prepare(tmp, days)
        last = start + dt.timedelta(days=days - 1)
        wall, cpu = _backfill(env, start, last)
        stages = _stage_seconds(tmp / "dagster_home")
        stages |= {f"@{k}": v for k, v in milestones(tmp / "dagster_home").items()}
        return wall, cpu, stages, _daily_runs(tmp, env, last, daily_repeats)


def _daily_runs(tmp: Path, env: dict[str, str], day: dt.date, repeats: int) -> list[tuple]:
    """(wall, step seconds per stage) of `repeats` runs of `day` alone, each drawing its
    reports again, as the daily schedule's run of a new day does."""
    runs = []
    for _ in range(repeats):
        for report in (tmp / "data" / "reports").glob(f"*/{day.isoformat()}.html"):
            report.unlink()
        mark = time.time()
        wall, _ = _backfill(env, day, day)
        runs.append((wall, _stage_seconds(tmp / "dagster_home", mark)))
    return runs


def early_days(days: int, repeats: int) -> list[tuple]:
    """One-day runs of the last of `days` days, on a root holding just those days."""
    return one_year(days, repeats)[3]


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
    """Median step seconds per stage; `@` entries are milestones (seconds since the first step:
    `@tables_and_alerts` when every table and alert was written, `@everything` the last step)."""
    milestones = sorted({s for r in runs for s in r if s.startswith("@")})
    if milestones:
        medians = {m: statistics.median([r[m] for r in runs if m in r]) for m in milestones}
        parts = [f"{m[1:]} {v:.1f}" for m, v in medians.items()]
        print(f"  {label} seconds after the first step: " + ", ".join(parts))
    runs = [{s: v for s, v in r.items() if not s.startswith("@")} for r in runs]
    stages = sorted(
        {s for r in runs for s in r},
        key=lambda s: -statistics.median([r.get(s, 0.0) for r in runs]),
    )
    parts = [f"{s} {statistics.median([r.get(s, 0.0) for r in runs]):.1f}" for s in stages]
    print(f"  {label} step seconds (median per stage, both models): " + ", ".join(parts))


def _print_daily(label: str, runs: list[tuple]) -> float:
    """Medians of one-day runs; returns the median of their summed step seconds."""
    steps = statistics.median([sum(r[1].values()) for r in runs])
    wall = statistics.median([r[0] for r in runs])
    print(f"  {label}: {wall:.1f} s wall, {steps:.1f} s of steps (median of {len(runs)})")
    _print_stages(label, [r[1] for r in runs])
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--flat", action="store_true", help="also day 30 vs the last day alone")
    parser.add_argument("--daily-repeats", type=int, default=3, help="one-day runs per root")
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
    repeats = args.daily_repeats if args.flat else 0
    walls, cpus, stages, late = [], [], [], []
    for i in range(args.runs):
        wall, cpu, per_stage, daily = one_year(args.days, repeats if i == 0 else 0)
        walls.append(wall)
        cpus.append(cpu)
        stages.append(per_stage)
        late += daily
        print(
            f"run {i + 1}: {args.days} days x 2 models in {wall:.1f} s wall, "
            f"{cpu:.1f} s CPU (process tree)",
            flush=True,
        )
        _print_stages(f"run {i + 1}", [per_stage])
    if walls:
        print(
            f"median of {len(walls)}: {statistics.median(walls):.1f} s wall "
            f"(min {min(walls):.1f}, max {max(walls):.1f}); CPU {statistics.median(cpus):.1f} s"
        )
        _print_stages("year", stages)
    if repeats:
        early_steps = _print_daily("day 30 alone", early_days(30, repeats))
        late_steps = _print_daily(f"day {args.days} alone", late or one_year(args.days, repeats)[3])
        print(f"flat cost: day {args.days} / day 30 = {late_steps / early_steps:.2f}x (steps)")


if __name__ == "__main__":
    main()
