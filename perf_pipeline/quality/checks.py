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
from typing import TYPE_CHECKING

import dagster as dg

from perf_pipeline.config import ModelConfig
from perf_pipeline.names import dagster_name
from perf_pipeline.quality.suite import ERROR, effective_severity, expectation_catalogue

if TYPE_CHECKING:
    from perf_pipeline.quality.gate import DayVerdict

MAX_FAILED_DAYS_SHOWN = 5


def _all_expectations(model: ModelConfig) -> list[tuple[str, str, str | None]]:
    """(name, severity, column) of every expectation the gate evaluates for this model."""
    return [
        (name, severity, column)
        for name, default, column in expectation_catalogue(model)
        if (severity := effective_severity(model, name, default)) is not None
    ]


def gate_check_specs(model: ModelConfig, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """One check per expectation. Dagster accepts only `[A-Za-z0-9_]` in a check name, so the
    name goes through `dagster_name`; the description and the `data_quality` rows keep the
    readable one (`x-1_null_rate`)."""
    return [
        dg.AssetCheckSpec(
            name=dagster_name(name),
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
            "expectation": name,
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
            check_name=dagster_name(name),
            passed=not failed,
            severity=check_severity,
            metadata=metadata,
            description=description,
        )
