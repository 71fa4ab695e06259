"""The data-quality gate as Dagster asset checks: one check per expectation, with its evidence.

A check covers every day of its run. In the daily run that is one day, and an error-severity
failure blocks the downstream stages the Dagster way. In a multi-day backfill a check blocks only
when it failed on every day of the run; otherwise it reports a warning naming the failed days, and
the downstream stages skip exactly those days (they read the verdict from `data_quality`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import dagster as dg

from perf_pipeline.config import ModelConfig
from perf_pipeline.quality.gate import GATE_EXPECTATIONS, DayVerdict
from perf_pipeline.quality.suite import ERROR, ReferenceStats, build_suite, effective_severity

MAX_FAILED_DAYS_SHOWN = 5


def _all_expectations(model: ModelConfig) -> list[tuple[str, str, str | None]]:
    """(name, severity, column) of every expectation the gate can evaluate for this model."""
    every_column = ReferenceStats(
        rows=1,
        minimum=dict.fromkeys(model.features.numerical, 0.0),
        maximum=dict.fromkeys(model.features.numerical, 1.0),
        categories={c: ["_"] for c in model.features.categorical},
    )
    specs = [(s.name, s.severity, s.column) for s in build_suite(model, every_column)]
    own = [
        (name, severity, column)
        for name, default, column in GATE_EXPECTATIONS
        if (severity := effective_severity(model, name, default)) is not None
    ]
    return [*own, *specs]


def gate_check_specs(model: ModelConfig, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=asset_key,
            blocking=severity == ERROR,
            description=f"{severity}: {name}" + (f" (column {column})" if column else ""),
        )
        for name, severity, column in _all_expectations(model)
    ]


def gate_check_results(
    model: ModelConfig, asset_key: dg.AssetKey, verdicts: dict[dt.date, DayVerdict]
) -> Iterator[dg.AssetCheckResult]:
    days = sorted(verdicts)
    for name, severity, column in _all_expectations(model):
        evaluated = {d: r for d in days for r in verdicts[d].rows if r["expectation"] == name}
        failed = {d: r for d, r in evaluated.items() if not r["success"]}
        every_day = bool(failed) and len(failed) == len(days)
        check_severity = (
            dg.AssetCheckSeverity.ERROR
            if severity == ERROR and every_day
            else dg.AssetCheckSeverity.WARN
        )
        metadata: dict[str, object] = {
            "severity": severity,
            "column": column or "",
            "days_evaluated": len(evaluated),
            "days_failed": len(failed),
            "failed_days": ", ".join(d.isoformat() for d in failed) or "none",
        }
        for day, row in list(failed.items())[:MAX_FAILED_DAYS_SHOWN]:
            metadata[f"{day.isoformat()}"] = dg.MetadataValue.json(
                {
                    "observed_value": row["observed_value"],
                    "unexpected_count": row["unexpected_count"],
                    "sample_values": json.loads(row["sample_values"]),
                }
            )
        description = (
            f"failed on {len(failed)} of {len(days)} day(s)"
            if failed
            else ("passed" if evaluated else "not evaluated (no data for it in this run)")
        )
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=not failed,
            severity=check_severity,
            metadata=metadata,
            description=description,
        )
