"""Root cause beside the symptom: what else was wrong on the day a metric broke its bound.

A performance alert says *that* the model got worse; whoever reads it next asks *why*. The same
day's tables hold the first leads, so each `performance` and `estimated_performance` alert
carries them, as JSON in `alerts.root_cause` and in a short tail of its message:

- `drifted_features`: the model's features the drift table calls drifted that day, the
  `TOP` with the largest PSI (the one score every column has, whatever its method; a column
  without PSI ranks last), each with its method, statistic, p-value and PSI;
- `worst_segments`: the `TOP` segment rows of the alert's metric (realized rows for a realized
  alert, estimated ones for an estimate) with the worst value in the metric's bad direction,
  each with its value and `n`; fairness rows (`__groups__`) are not segments;
- `data_quality`: every expectation that failed that day (`data_quality.success = false`),
  with its column, observed value and severity: on a day that is judged at all these are
  warnings, since an error blocks the day.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from perf_pipeline.alerts.records import Alert
from perf_pipeline.config import ModelConfig
from perf_pipeline.metrics.performance import metric_direction

if TYPE_CHECKING:
    import pandas as pd

TOP = 3
# Between an alert's own message and its root cause; `without_root_cause` cuts there, so a
# re-judged alert gets the day's current cause instead of a second one.
ROOT_CAUSE_SEPARATOR = " | root cause: "
ALL = "__all__"
FAIRNESS_GROUPS = "__groups__"


@dataclass(frozen=True)
class RootCause:
    drifted_features: list[dict[str, Any]] = field(default_factory=list)
    worst_segments: list[dict[str, Any]] = field(default_factory=list)
    data_quality: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(
            {
                "drifted_features": self.drifted_features,
                "worst_segments": self.worst_segments,
                "data_quality": self.data_quality,
            },
            sort_keys=True,
        )

    def summary(self) -> str:
        """One short line: drifted features, worst segments, failed expectations."""
        drifted = ", ".join(f"{d['column']} (psi {_num(d['psi'])})" for d in self.drifted_features)
        segments = ", ".join(
            f"{s['segment_column']}={s['segment_value']} {_num(s['value'])} (n {s['n']})"
            for s in self.worst_segments
        )
        quality = ", ".join(
            q["expectation"] + (f" ({q['observed_value']})" if q["observed_value"] else "")
            for q in self.data_quality
        )
        return "; ".join(
            [
                f"drifted: {drifted or 'none'}",
                f"worst segments: {segments or 'none'}",
                f"data-quality warnings: {quality or 'none'}",
            ]
        )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# DuckDB's parallel sums differ in the last bits between runs; rounding to this many significant
# digits makes a re-run write the identical `root_cause` text.
_DIGITS = 10


def _round(value: float) -> float:
    return float(f"{value:.{_DIGITS}g}")


def _clean(value: object) -> Any:
    """A JSON-safe, re-run-stable scalar: NaN and missing become None, numpy numbers plain
    Python, floats rounded to `_DIGITS` significant digits."""
    if value is None:
        return None
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        return None if math.isnan(value) else _round(value)
    return value


def drifted_features(model: ModelConfig, drift: pd.DataFrame | None) -> list[dict[str, Any]]:
    if drift is None or drift.empty:
        return []
    rows = drift[
        drift["column"].isin(model.features.all) & drift["drifted"].fillna(False).astype(bool)
    ]
    rows = rows.sort_values(["psi", "column"], ascending=[False, True], na_position="last")
    keys = ("column", "method", "statistic", "p_value", "psi")
    return [{k: _clean(getattr(r, k)) for k in keys} for r in rows.head(TOP).itertuples()]


def worst_segments(
    model: ModelConfig, metric: str, estimated: bool, performance: pd.DataFrame
) -> list[dict[str, Any]]:
    flags = performance["is_estimated"].fillna(False).astype(bool)
    rows = performance[
        (performance["metric"] == metric)
        & (flags == estimated)
        & (performance["segment_column"] != ALL)
        & (performance["segment_value"] != FAIRNESS_GROUPS)
        & performance["value"].notna()
    ]
    ascending = metric_direction(model.task, metric)  # higher is better: the lowest is worst
    rows = rows.sort_values(
        ["value", "segment_column", "segment_value"], ascending=[ascending, True, True]
    )
    return [
        {
            "segment_column": r.segment_column,
            "segment_value": r.segment_value,
            "value": _round(float(r.value)),
            "n": int(r.n),
        }
        for r in rows.head(TOP).itertuples()
    ]


def quality_warnings(quality: pd.DataFrame | None) -> list[dict[str, Any]]:
    if quality is None or quality.empty:
        return []
    failed = quality[~quality["success"].fillna(True).astype(bool)].sort_values("expectation")
    keys = ("expectation", "column", "observed_value", "severity")
    return [{k: _clean(getattr(r, k)) for k in keys} for r in failed.itertuples()]


def root_cause(
    model: ModelConfig,
    alert: Alert,
    performance: pd.DataFrame,
    drift: pd.DataFrame | None,
    quality: pd.DataFrame | None,
) -> RootCause:
    """The leads of one day's performance alert, from that day's rows of the three tables."""
    from perf_pipeline.alerts.regressions import ESTIMATED_PERFORMANCE

    estimated = alert.kind == ESTIMATED_PERFORMANCE
    return RootCause(
        drifted_features(model, drift),
        worst_segments(model, alert.metric_or_column, estimated, performance),
        quality_warnings(quality),
    )


def without_root_cause(alert: Alert) -> Alert:
    return replace(alert, message=alert.message.split(ROOT_CAUSE_SEPARATOR)[0])


def with_root_cause(alert: Alert, cause: RootCause) -> Alert:
    """The alert with `cause` as its message's tail (replacing an earlier one)."""
    base = without_root_cause(alert).message
    return replace(alert, message=base + ROOT_CAUSE_SEPARATOR + cause.summary())
