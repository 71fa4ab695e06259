"""The acceptable range of a metric, from its thresholds and the reference value.

Mirrors the alerts' fixed bounds (`perf_pipeline.alerts.regressions`): a value breaks them when
it is below `min`, above `max`, or worse than the reference by more than `max_drop` in the
metric's bad direction. Folding the three into one `[low, high]` lets a chart draw them and a
table print them, with the same verdict as the alerts. A threshold's statistical `band`,
`require_ci` and `persist_days` are filters the alerts stage applies over history; the charts
mark the alerts that stage actually raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perf_pipeline.config import MetricThreshold, ModelConfig


@dataclass(frozen=True)
class Bound:
    """`low`/`high` are None when that side is unbounded."""

    low: float | None = None
    high: float | None = None

    def breaks(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        return (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        )

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:.4g}..{self.high:.4g}"
        if self.low is not None:
            return f">= {self.low:.4g}"
        if self.high is not None:
            return f"<= {self.high:.4g}"
        return "-"


def higher_is_better(model: ModelConfig, metric: str) -> bool:
    """The metric's good direction; True for names the registry does not know (never raises:
    a dashboard must still draw a metric a newer version wrote)."""
    from perf_pipeline.metrics.registry import metric_direction

    try:
        return metric_direction(model.task, metric)
    except KeyError:
        return True


def metric_bound(
    model: ModelConfig, metric: str, threshold: MetricThreshold | None, reference: float | None
) -> Bound:
    """The range `metric` must stay in; `reference` None leaves `max_drop` out (no baseline)."""
    if threshold is None:
        return Bound()
    low, high = threshold.min, threshold.max
    has_reference = reference is not None and not math.isnan(reference)
    if threshold.max_drop is not None and has_reference:
        if higher_is_better(model, metric):
            drop_floor = reference - threshold.max_drop
            low = drop_floor if low is None else max(low, drop_floor)
        else:
            drop_ceiling = reference + threshold.max_drop
            high = drop_ceiling if high is None else min(high, drop_ceiling)
    return Bound(low, high)
