"""Checks of the labels that arrived on a day: readable, for known predictions, valid, resolved.

Labels never block a prediction day (they describe other days), so these checks record and
warn; an unreadable labels file is an error and raises a `data_quality` alert, because until it
is fixed every day it would have labelled stays unlabelled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg

from perf_pipeline.alerts.records import Alert
from perf_pipeline.alerts.severity import CRITICAL
from perf_pipeline.config import ModelConfig
from perf_pipeline.names import dagster_name
from perf_pipeline.quality.suite import ERROR, WARNING

if TYPE_CHECKING:
    from perf_pipeline.ingest.predictions import DayResult

LABELS_FILE = "labels.parquet"
UNKNOWN_ID_SHARE_MAX = 0.05

_INVALID = (
    "null_prediction_id",
    "null_label",
    "unparseable_label",
    "label_not_finite",
    "unknown_label_class",
    "unparseable_label_timestamp",
    "malformed_json_line",
)

# (name, severity, what it says)
LABEL_CHECKS: list[tuple[str, str, str]] = [
    ("labels_files_readable", ERROR, "every labels file of the day could be read"),
    ("labels_known_prediction_ids", WARNING, "at most 5 % of labels name an unknown prediction"),
    ("labels_valid_values", WARNING, "no label row is null, unparseable or of an unknown class"),
    ("labels_conflicts_resolved", WARNING, "labels given twice on a day: the latest kept, counted"),
]


def _outcome(name: str, result: DayResult) -> tuple[bool, str, int | None]:
    """(success, observed value, rows concerned) of one check on one arrival day."""
    reasons = result.reasons or {}
    read = result.load.rows_read
    if name == "labels_files_readable":
        return result.load.error is None, result.load.error or "readable", None
    if name == "labels_known_prediction_ids":
        unknown = reasons.get("unknown_prediction_id", 0)
        share = unknown / read if read else 0.0
        return share <= UNKNOWN_ID_SHARE_MAX, f"{share:.4%} of {read}", unknown
    if name == "labels_valid_values":
        invalid = {r: reasons[r] for r in _INVALID if r in reasons}
        return not invalid, json.dumps(invalid), sum(invalid.values())
    superseded = reasons.get("superseded_by_later_label", 0)
    return True, f"{superseded} superseded by a later label", superseded


def label_quality_rows(model: ModelConfig, results: dict[dt.date, DayResult]) -> list[dict]:
    rows = []
    for day, result in sorted(results.items()):
        for name, severity, _ in LABEL_CHECKS:
            success, observed, count = _outcome(name, result)
            rows.append(
                {
                    "model_id": model.model_id,
                    "date": day,
                    "expectation": name,
                    "column": "label" if name == "labels_valid_values" else None,
                    "success": success,
                    "observed_value": observed,
                    "unexpected_count": count,
                    "severity": severity,
                    "sample_values": "[]",
                }
            )
    return rows


def label_alerts(model: ModelConfig, rows: list[dict]) -> list[Alert]:
    return [
        Alert(
            model.model_id,
            row["date"],
            "data_quality",
            row["expectation"],
            None,
            None,
            None,
            CRITICAL,
            f"{model.model_id} {row['date']}: {row['expectation']} failed "
            f"({row['observed_value']})",
        )
        for row in rows
        if row["severity"] == ERROR and not row["success"]
    ]


def label_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(dagster_name(name), asset=asset_key, description=f"{severity}: {text}")
        for name, severity, text in LABEL_CHECKS
    ]


def label_check_results(asset_key: dg.AssetKey, rows: list[dict]) -> Iterator[dg.AssetCheckResult]:
    for name, severity, _ in LABEL_CHECKS:
        mine = [r for r in rows if r["expectation"] == name]
        failed = [r for r in mine if not r["success"]]
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=dagster_name(name),
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR
            if severity == ERROR
            else dg.AssetCheckSeverity.WARN,
            metadata={
                "days_evaluated": len(mine),
                "days_failed": len(failed),
                "failed_days": ", ".join(str(r["date"]) for r in failed) or "none",
                "rows_concerned": sum(r["unexpected_count"] or 0 for r in mine),
                **{str(r["date"]): r["observed_value"] for r in failed[:5]},
            },
        )
