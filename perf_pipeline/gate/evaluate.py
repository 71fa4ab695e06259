"""One gate decision from a request: gather the rows, compare, apply the policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.gate.compare import compare
from perf_pipeline.gate.decision import GateDecision
from perf_pipeline.gate.holdout import holdout_input
from perf_pipeline.gate.pairing import NotEnoughData, traffic_input
from perf_pipeline.gate.policy import Finding, Verdict, findings, score_drift_finding, verdict_of
from perf_pipeline.paths import DataPaths

__all__ = ["GateConfigError", "GateRequest", "decide"]


class GateConfigError(ValueError):
    """A model whose gate policy cannot judge it (none given, or metrics of another task)."""


@dataclass(frozen=True)
class GateRequest:
    """Which candidate, against which baseline (default: the version that served most), over
    which days (default: the candidate's), or on a labelled hold-out file instead of traffic."""

    candidate: str
    baseline: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    holdout: Path | None = None


def check_policy(paths: DataPaths, model: ModelConfig) -> None:
    where = f"{paths.models_file}: model {model.model_id!r}"
    problems = model.gate.problems_for_task(model.task.value)
    if not model.gate.metrics:
        problems.append("no gate policy: add gate.metrics (README, 'Release gate')")
    if problems:
        raise GateConfigError("\n".join(f"{where}: {p}" for p in problems))


def decide(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, request: GateRequest
) -> GateDecision:
    """The verdict on `request.candidate` with its findings and evidence (not yet recorded)."""
    check_policy(paths, model)
    if request.start and request.end and request.end < request.start:
        raise GateConfigError(f"--end {request.end} is before --start {request.start}")
    try:
        if request.holdout is not None:
            gi = holdout_input(
                con, paths, model, request.holdout, request.candidate, request.baseline
            )
        else:
            gi = traffic_input(
                con, paths, model, request.candidate, request.baseline, request.start, request.end
            )
    except NotEnoughData as exc:
        source = f"holdout {request.holdout.name}" if request.holdout else "traffic"
        finding = Finding("data", Verdict.NOT_ENOUGH_DATA, str(exc))
        return GateDecision(
            model.model_id,
            request.candidate,
            request.baseline,
            source,
            request.start,
            request.end,
            None,
            Verdict.NOT_ENOUGH_DATA,
            [finding],
        )
    diffs = compare(con, model, gi)
    found = findings(model, gi, diffs)
    drift_finding, drift = score_drift_finding(model, gi)
    found += [drift_finding] if drift_finding else []
    return GateDecision(
        model_id=model.model_id,
        candidate=gi.candidate_version,
        baseline=gi.baseline_version,
        source=gi.source,
        window_start=gi.start,
        window_end=gi.end,
        paired=gi.paired,
        verdict=verdict_of(found),
        findings=found,
        differences=diffs,
        score_drift=drift,
        counts=gi.counts,
    )
