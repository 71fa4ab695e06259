"""`perf-pipeline`: demo, backfill, status, alerts, validate, add-model and ui, over the same
definitions as the Dagster UI.

Every command honours `PERF_PIPELINE_HOME` (the data root, default `./data`) and `DAGSTER_HOME`
(default `<data root>/dagster_home`), so runs launched here show up in `dagster dev`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from perf_pipeline import cli_gate, cli_sql, warm_workers
from perf_pipeline.cores import available_cores
from perf_pipeline.executors import executor_choice
from perf_pipeline.long_lived import freeze_survivors
from perf_pipeline.paths import DATA_ROOT_ENV, DataPaths, DataRootError, resolve_data_root


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perf-pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help=f"data root (default: ${DATA_ROOT_ENV} or ./data)")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_gate.add_parser(sub)
    cli_sql.add_parser(sub)
    demo = sub.add_parser("demo", help="write the sample data if absent, backfill it, summarize")
    demo.add_argument("--fresh", action="store_true", help="rewrite the sample landing zone first")
    backfill = sub.add_parser(
        "backfill", help="run every stage for a date range, one run per model"
    )
    backfill.add_argument("--start", type=_date, required=True)
    backfill.add_argument("--end", type=_date, required=True)
    backfill.add_argument("--model", action="append", help="only this model (repeatable)")
    backfill.add_argument(
        "--parallel",
        type=_positive,
        metavar="N",
        help="models run at once, each in its own process (default: one per core; 1: in turn, "
        "in this process)",
    )
    status = sub.add_parser("status", help="latest metrics and open alerts")
    status.add_argument("--model", action="append", help="only this model (repeatable)")
    from perf_pipeline import cli_alerts

    cli_alerts.add_parser(sub)
    sub.add_parser("ui", help="open the Dagster UI on this data root (dagster dev)")
    sub.add_parser(
        "validate", help="check the models file: every problem named; exit 2 if there is one"
    )
    add_model = sub.add_parser(
        "add-model", help="append a new model entry, every field present and documented"
    )
    add_model.add_argument("model_id")
    add_model.add_argument(
        "--task",
        required=True,
        choices=[
            "binary_classification",
            "multiclass_classification",
            "regression",
            "ranking",
        ],
    )
    return parser


def _load_models(paths: DataPaths) -> dict:
    from perf_pipeline.config import load_models_with_warnings

    models, warnings = load_models_with_warnings(paths.models_file)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return models


def _select(models: dict, wanted: list[str] | None) -> list:
    if not wanted:
        return list(models.values())
    unknown = [m for m in wanted if m not in models]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; the models file declares {sorted(models)}")
    return [models[m] for m in wanted]


EXIT_FAILED_DAYS = 1
EXIT_NOTHING_TO_RUN = 2
MAX_REASONS_SHOWN = 3


def _report_failed_days(paths: DataPaths, outcomes: list) -> int:
    """Print the days that did not get through; their number."""
    from perf_pipeline.day_outcomes import days_between, failed_days

    failed = [
        f for o in outcomes for f in failed_days(paths, o.model_id, days_between(o.start, o.end))
    ]
    if failed:
        print(f"{len(failed)} day(s) did not get through (see `data_quality` and `ingest_log`):")
    for f in failed:
        shown = "; ".join(f.reasons[:MAX_REASONS_SHOWN])
        more = len(f.reasons) - MAX_REASONS_SHOWN
        print(f"  {f.model_id} {f.day}: {shown}" + (f" (+{more} more)" if more > 0 else ""))
    return len(failed)


def _run_backfill(
    paths: DataPaths,
    start: dt.date,
    end: dt.date,
    wanted: list[str] | None,
    fail_on_blocked_days: bool = True,
    parallel: int | None = None,
    warm_workers_first: bool = False,
) -> int:
    """Exit 0 when every day got through, 1 when a run failed, a day was blocked or unreadable or
    a notification channel refused its alerts (a scheduler or CI job must see that), 2 when no
    model has a day in the range."""
    if end < start:
        raise SystemExit(f"--end {end} is before --start {start}")
    selected = _select(_load_models(paths), wanted)
    later = [m for m in selected if m.start_date > end]
    for m in later:
        print(f"  {m.model_id}: starts on {m.start_date}, after {end}: nothing to run")
    selected = [m for m in selected if m not in later]
    if not selected:
        print("No model has a day in this range.", file=sys.stderr)
        return EXIT_NOTHING_TO_RUN
    workers = _model_workers(selected, parallel)
    if warm_workers_first and workers == 1 and executor_choice() == "default":
        warm_workers.start()  # before Dagster is imported: see `warm_workers.py`
    import dagster as dg

    from perf_pipeline import cli_alerts
    from perf_pipeline.definitions import build_definitions
    from perf_pipeline.runner import ensure_dagster_home

    home = ensure_dagster_home(paths)
    defs = build_definitions(paths.root)
    print(f"Backfilling {start} .. {end} for {', '.join(m.model_id for m in selected)}")
    print(f"Runs are recorded in DAGSTER_HOME={home} (open them with `perf-pipeline ui`).")
    began = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        outcomes = _backfill_models(defs, instance, paths, selected, start, end, workers)
        # A range (or an old day) goes out as one digest per model and run.
        sent, notify_error = cli_alerts.notify_after_backfill(defs, instance, paths, outcomes)
    for o in outcomes:
        state = "ok" if o.success else f"FAILED at {', '.join(o.failed_steps) or 'run level'}"
        print(f"  {o.model_id}: {o.start} .. {o.end}  run {o.run_id[:8]}  {state}")
    elapsed = time.perf_counter() - began
    print(f"Done in {elapsed:.0f} s; {sent} new alert(s) sent to {paths.alerts_log}")
    if notify_error:
        print(f"Notification failed (pending alerts are retried): {notify_error}", file=sys.stderr)
    blocked = _report_failed_days(paths, outcomes)
    if notify_error or not all(o.success for o in outcomes):
        return EXIT_FAILED_DAYS
    return EXIT_FAILED_DAYS if blocked and fail_on_blocked_days else 0


def _model_workers(models: list, parallel: int | None) -> int:
    """How many models run at once: one per core unless `parallel` says otherwise."""
    return min(len(models), parallel or available_cores())


def _backfill_models(
    defs,
    instance,
    paths: DataPaths,
    models: list,
    start: dt.date,
    end: dt.date,
    workers: int,
) -> list:
    """The models' runs: side by side in `workers` processes, or in turn in this process when
    only one may run or there is only one model."""
    from perf_pipeline.parallel_backfill import parallel_backfill
    from perf_pipeline.runner import backfill

    if workers > 1:
        print(f"Running {workers} models at once, each in its own process.")
        return parallel_backfill(paths, models, start, end, workers)
    return backfill(defs, instance, models, start, end)


def _demo(paths: DataPaths, fresh: bool) -> int:
    from perf_pipeline.sample_data import SAMPLE_DAYS, SAMPLE_START, sample_exists, write_sample

    if fresh or not sample_exists(paths.root):
        print(f"Writing the sample landing zone under {paths.root} ...")
        write_sample(paths.root)
    end = SAMPLE_START + dt.timedelta(days=SAMPLE_DAYS - 1)
    # The sample's incidents block some days on purpose: the demo shows them, it does not fail.
    code = _run_backfill(paths, SAMPLE_START, end, None, fail_on_blocked_days=False)
    from perf_pipeline.status import print_summary

    print_summary(paths)
    return code


def _add_model(paths: DataPaths, model_id: str, task: str) -> int:
    from perf_pipeline.config import ModelsFileError
    from perf_pipeline.scaffold import add_model

    try:
        print(add_model(paths, model_id, task))
    except ModelsFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def _ui(paths: DataPaths) -> int:
    from perf_pipeline.runner import ensure_dagster_home

    ensure_dagster_home(paths)
    os.environ[DATA_ROOT_ENV] = str(paths.root)
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    command = ["dagster", "dev"]
    command += ["-w", str(workspace)] if workspace.exists() else ["-m", "perf_pipeline.definitions"]
    return subprocess.call(command)


def main(argv: list[str] | None = None, warm_workers_first: bool = False) -> int:
    """Run a command; a models file or data root that cannot be used is one message, exit 2.

    `warm_workers_first` lets a backfill start the workers' server before it loads Dagster
    (`warm_workers.py`). Only the command itself asks for it: the server outlives the call,
    and a caller that stays alive (a test, a notebook) keeps its work in its own process.
    """
    from perf_pipeline.config import ModelsFileError

    args = _parser().parse_args(argv)
    args.warm_workers_first = warm_workers_first
    try:
        return _dispatch(args)
    except (ModelsFileError, DataRootError) as exc:
        print(exc, file=sys.stderr)
        return 2


def run() -> int:
    """The `perf-pipeline` command: `main`, with the workers' server started early, then an
    exit without the interpreter's final collection over everything the steps imported
    (`long_lived.py`). Callers that stay alive (tests, notebooks) call `main`, which leaves the
    collector as it was."""
    try:
        return main(warm_workers_first=True)
    finally:
        freeze_survivors()


def _dispatch(args: argparse.Namespace) -> int:
    paths = DataPaths(resolve_data_root(args.home))
    os.environ[DATA_ROOT_ENV] = str(paths.root)
    if args.command == "gate":
        return cli_gate.run(args, paths)
    if args.command == "sql":
        return cli_sql.run(args, paths)
    if args.command == "demo":
        return _demo(paths, args.fresh)
    if args.command == "backfill":
        return _run_backfill(
            paths,
            args.start,
            args.end,
            args.model,
            parallel=args.parallel,
            warm_workers_first=args.warm_workers_first,
        )
    if args.command == "validate":
        from perf_pipeline.validate import validate_command

        return validate_command(paths)
    if args.command == "add-model":
        return _add_model(paths, args.model_id, args.task)
    if args.command == "alerts":
        from perf_pipeline import cli_alerts

        return cli_alerts.run(args, paths)
    if args.command == "status":
        from perf_pipeline.status import print_status

        return print_status(paths, args.model)
    return _ui(paths)


if __name__ == "__main__":
    sys.exit(run())
