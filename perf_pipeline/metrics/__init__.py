"""Metrics computed in DuckDB over (model, date, segment) groups."""

from perf_pipeline.metrics.performance import (
    METRICS,
    Metric,
    compute_performance,
    metric_direction,
    model_metrics,
    performance_sql,
)

__all__ = [
    "METRICS",
    "Metric",
    "compute_performance",
    "metric_direction",
    "model_metrics",
    "performance_sql",
]
