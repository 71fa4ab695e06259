"""`perf-pipeline gate`: may a candidate model version replace production?

Runs the model's `<model>__release_gate` job on the shared Dagster instance (so the decision is
an asset materialization and a check in the UI, and a row of `gate_decisions`), prints the
verdict with its reasons, and exits 0 (pass), 1 (fail) or 2 (not enough data, or a gate that
cannot run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from perf_pipeline.paths import DataPaths

__all__ = ["add_parser", "run"]

EXIT_NOT_ENOUGH_DATA = 2


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def add_parser(sub: argparse._SubParsersAction) -> None:
    gate = sub.add_parser(
        "gate",
        help="release gate: a candidate version against production; exit 0 pass, 1 fail, "
        "2 not enough data",
    )
    gate.add_argument("--model", required=True)
    gate.add_argument("--candidate", required=True, help="the candidate's model_version")
    gate.add_argument(
        "--baseline", help="the version to beat (default: the one that served the most rows)"
    )
    gate.add_argument("--start", type=_date, help="first day (default: the candidate's first)")
    gate.add_argument("--end", type=_date, help="last day (default: the candidate's last)")
    gate.add_argument("--format", choices=["text", "json"], default="text")
    gate.add_argument("--holdout", help="a labelled hold-out file instead of traffic (offline)")


def _config(args: argparse.Namespace) -> dict:
    given = {
        "candidate": args.candidate,
        "baseline": args.baseline,
        "start": args.start,
        "end": args.end,
        "holdout": str(args.holdout) if args.holdout else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def run(args: argparse.Namespace, paths: DataPaths) -> int:
    """Decide through Dagster and print the decision; its verdict is the exit code."""
    import dagster as dg

    from perf_pipeline.assets.gate import gate_job_name
    from perf_pipeline.config import load_models
    from perf_pipeline.definitions import build_definitions
    from perf_pipeline.gate.evaluate import check_policy
    from perf_pipeline.runner import ensure_dagster_home

    models = load_models(paths.models_file)
    if args.model not in models:
        print(
            f"unknown model {args.model!r}; the models file declares {sorted(models)}",
            file=sys.stderr,
        )
        return EXIT_NOT_ENOUGH_DATA
    try:
        check_policy(paths, models[args.model])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_NOT_ENOUGH_DATA
    ensure_dagster_home(paths)
    job = build_definitions(paths.root).resolve_job_def(gate_job_name(args.model))
    run_config = {
        "ops": {_op_name(job): {"config": _config(args)}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False
        )
    return _report(result, args.format)


def _op_name(job) -> str:
    (node,) = job.graph.node_dict.values()
    return node.name


def _report(result, fmt: str) -> int:
    """Print the decision the run recorded; a run that failed is "cannot decide" (2)."""
    if not result.success:
        errors = [
            e.step_failure_data.error.message.strip()
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data and e.step_failure_data.error
        ]
        print("the gate could not decide: " + "; ".join(errors or ["run failed"]), file=sys.stderr)
        return EXIT_NOT_ENOUGH_DATA
    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    decision = metadata["decision"].value
    if fmt == "json":
        print(json.dumps(decision, indent=2))
    else:
        print(_text(decision))
    return int(metadata["exit_code"].value)


def _text(decision: dict) -> str:
    window = f"{decision['window_start'] or '?'} .. {decision['window_end'] or '?'}"
    lines = [
        f"{decision['verdict'].upper()}: {decision['model_id']} candidate "
        f"{decision['candidate']} against {decision['baseline'] or '(none)'}, "
        f"{decision['source']} {window}, {decision['mode']}",
        "reasons:",
        *(f"  {reason}" for reason in decision["reasons"]),
        f"exit code {decision['exit_code']} (decision {decision['decision_id']}, recorded in "
        "gate_decisions)",
    ]
    return "\n".join(lines)
