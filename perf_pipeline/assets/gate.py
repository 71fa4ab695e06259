"""`<model>/gate`: the release gate as a Dagster asset, one per model with a gate policy.

Each materialization decides one candidate (run config: `candidate`, optional `baseline`,
`start`, `end`, `holdout`), records the decision with its evidence in the `gate_decisions`
table, and reports it as the asset check `gate_passed`: a failed gate is a failed check
(severity ERROR), "not enough data" a failed check of severity WARN. It is not part of the daily
job: a release pipeline asks for it, through `perf-pipeline gate` or the UI's launchpad
(job `<model>__release_gate`), on the same instance, so every decision shows up in the asset's
history.
"""

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from perf_pipeline.assets.common import asset_key
from perf_pipeline.config import ModelConfig
from perf_pipeline.names import dagster_name
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage

if TYPE_CHECKING:
    from perf_pipeline.gate import GateDecision, GateRequest

__all__ = ["GATE_CHECK", "GateConfig", "gate_definitions", "gate_job_name"]

GATE_CHECK = "gate_passed"
GATE_GROUP = "release_gate"


class GateConfig(dg.Config):
    """Which candidate to judge; dates as YYYY-MM-DD; `holdout` a file path (offline mode)."""

    candidate: str
    baseline: str | None = None
    start: str | None = None
    end: str | None = None
    holdout: str | None = None


def gate_job_name(model_id: str) -> str:
    return f"{dagster_name(model_id)}__release_gate"


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _request(config: GateConfig) -> "GateRequest":
    from perf_pipeline.gate import GateRequest

    return GateRequest(
        candidate=config.candidate,
        baseline=config.baseline,
        start=_day(config.start),
        end=_day(config.end),
        holdout=Path(config.holdout) if config.holdout else None,
    )


def _check(model: ModelConfig, decision: "GateDecision") -> dg.AssetCheckResult:
    from perf_pipeline.gate import Verdict

    severity = (
        dg.AssetCheckSeverity.WARN
        if decision.verdict is Verdict.NOT_ENOUGH_DATA
        else dg.AssetCheckSeverity.ERROR
    )
    return dg.AssetCheckResult(
        asset_key=asset_key(model.model_id, "gate"),
        check_name=GATE_CHECK,
        passed=decision.verdict is Verdict.PASS,
        severity=severity,
        metadata={
            "verdict": decision.verdict.value,
            "candidate": decision.candidate,
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
        },
    )


def gate_asset(model: ModelConfig) -> dg.AssetsDefinition:
    key = asset_key(model.model_id, "gate")

    @dg.asset(
        key=key,
        group_name=GATE_GROUP,
        kinds={"duckdb", "parquet"},
        deps=[asset_key(model.model_id, "predictions"), asset_key(model.model_id, "labels")],
        check_specs=[dg.AssetCheckSpec(GATE_CHECK, asset=key, description="The gate passed.")],
        description=f"Release gate of {model.model_id}: a candidate version against the "
        "baseline on the same traffic (or a hold-out file); every decision is a row of "
        "`gate_decisions`, a failed gate fails the `gate_passed` check.",
    )
    def gate(
        context: dg.AssetExecutionContext, config: GateConfig, storage: PipelineStorage
    ) -> dg.MaterializeResult:
        from perf_pipeline.gate import decide, record_decision

        with storage.get_connection() as con:
            decision = decide(con, storage.paths, model, _request(config))
            record_decision(con, storage.paths, decision)
        context.log.info(decision.to_text())
        return dg.MaterializeResult(
            metadata={
                "decision_id": decision.decision_id,
                "verdict": decision.verdict.value,
                "exit_code": decision.exit_code,
                "baseline": decision.baseline or "",
                "mode": decision.mode,
                "decision": dg.MetadataValue.json(json.loads(decision.to_json())),
            },
            check_results=[_check(model, decision)],
        )

    return gate


def gate_definitions(paths: DataPaths) -> dg.Definitions:
    """One gate asset and job per model whose entry has `gate.metrics`."""
    from perf_pipeline.config import load_models

    gated = [m for m in load_models(paths.models_file).values() if m.gate.metrics]
    assets = [gate_asset(m) for m in gated]
    jobs = [
        dg.define_asset_job(gate_job_name(m.model_id), selection=dg.AssetSelection.assets(a))
        for m, a in zip(gated, assets, strict=True)
    ]
    return dg.Definitions(assets=assets, jobs=jobs)
