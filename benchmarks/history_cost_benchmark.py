"""Whether a one-day run costs more as history grows: CPU of each stage's work, day E vs day N.

`year_backfill_benchmark.py --flat` times the Dagster steps of one-day runs, interpreter, event
log and report included, on a loaded machine a few tenths of a second of reading more history
drown in that. This times, in this process, only the work of the stages that read history: the
labels ingest of one arrival day (the ids' prediction days), the label recheck a predictions run
leaves behind (its day noted), `label_lag` of that arrival day, the day's `performance`
(latest labels), `drift`, regression alerts and the estimator's check (`estimator_quality`: the
day's `estimation_quality` rows and the windows that judge them). Each is the minimum CPU over
`--reps` runs, each on a fresh DuckDB connection (CPU of every thread of the process: DuckDB's
included).

The sample (`--days` days, one model) is backfilled with `perf-pipeline backfill` up to day E
(`--early`, default 30), E measured, then backfilled up to day N and N measured: the same day's
work with E and with N days of history behind it. Re-running a day's labels ingest and
`label_lag` rewrites the same partitions with the same rows.

`--steps` times only the steps named (comma-separated); the backfills are the same.

    python benchmarks/history_cost_benchmark.py [--days 120] [--early 30] [--model card_fraud]
        [--reps 5] [--steps label_recheck,estimator_quality]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # year_backfill_benchmark beside this file

# A day judged long after its label delay: the realized numbers count as final.
TODAY = dt.date(2030, 1, 1)


def _steps(day: dt.date) -> dict[str, Callable]:
    """Each stage's history-reading work for `day`, as (con, paths, model) -> None."""
    from perf_pipeline.alerts.estimator_quality import judge_estimator_quality
    from perf_pipeline.alerts.evaluate import regressions
    from perf_pipeline.ingest.label_recheck import days_to_recheck
    from perf_pipeline.ingest.labels import ingest_labels
    from perf_pipeline.tables import drift, performance
    from perf_pipeline.tables.label_lag import write_label_lag

    return {
        "labels_ingest": lambda con, paths, model: ingest_labels(con, paths, model, [day]),
        "label_recheck": lambda con, paths, model: days_to_recheck(
            con, paths, model.model_id, [day], [day]
        ),
        "label_lag": lambda con, paths, model: write_label_lag(con, paths, model, [day]),
        "performance": lambda con, paths, model: performance.compute_days(con, paths, model, [day]),
        "drift": lambda con, paths, model: drift.compute_days(con, paths, model, [day]),
        "alerts": lambda con, paths, model: regressions(con, paths, model, [day], TODAY),
        # As the day's alerts step does (today: the date now, as the backfill judged it), so
        # re-running it rewrites the day's `estimation_quality` rows with the same ones.
        "estimator_quality": lambda con, paths, model: judge_estimator_quality(
            con, paths, model, [day]
        ),
    }


def measure(
    root: Path, model_id: str, day: dt.date, reps: int, only: list[str] | None = None
) -> dict[str, float]:
    """Minimum CPU seconds of each step (of `only`, when given) for `day` over `reps` runs."""
    from perf_pipeline.config import load_models
    from perf_pipeline.lake import connect
    from perf_pipeline.paths import DataPaths

    paths = DataPaths(root)
    model = load_models(paths.models_file)[model_id]
    best: dict[str, float] = {}
    for name, step in _steps(day).items():
        if only and name not in only:
            continue
        for _ in range(reps):
            con = connect()
            began = time.process_time()
            step(con, paths, model)
            spent = time.process_time() - began
            con.close()
            best[name] = min(best.get(name, spent), spent)
    return best


def _backfill(env: dict[str, str], first: dt.date, last: dt.date, model_id: str) -> None:
    """`perf-pipeline backfill` of one model's days (the sample's blocked days exit 1)."""
    import subprocess

    command = [sys.executable, "-m", "perf_pipeline.cli", "backfill", "--model", model_id]
    command += ["--start", first.isoformat(), "--end", last.isoformat()]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or "FAILED" in done.stdout:
        raise SystemExit(f"backfill {first}..{last} failed:\n{done.stdout}\n{done.stderr}")


def main() -> None:
    from year_backfill_benchmark import _prepare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--early", type=int, default=30)
    parser.add_argument("--model", default="card_fraud")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", default="", help="comma-separated step names (default: all)")
    args = parser.parse_args()
    only = [s for s in args.steps.split(",") if s] or None
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, start = _prepare(tmp, args.days)
        early = start + dt.timedelta(days=args.early - 1)
        last = start + dt.timedelta(days=args.days - 1)
        _backfill(env, start, early, args.model)
        at_early = measure(tmp / "data", args.model, early, args.reps, only)
        _backfill(env, early + dt.timedelta(days=1), last, args.model)
        at_last = measure(tmp / "data", args.model, last, args.reps, only)
    print(f"{args.model}: CPU seconds of one day's work, min of {args.reps}")
    print(f"  {'step':14s} {'day ' + str(args.early):>9s} {'day ' + str(args.days):>9s}  ratio")
    for step, seconds in at_early.items():
        ratio = at_last[step] / seconds if seconds else float("nan")
        print(f"  {step:14s} {seconds:9.3f} {at_last[step]:9.3f}  {ratio:5.2f}")
    print(f"  {'total':14s} {sum(at_early.values()):9.3f} {sum(at_last.values()):9.3f}")


if __name__ == "__main__":
    main()
