"""Regressions: a metric past its configured bounds, or drift share above its maximum."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from perf_pipeline.alerts.records import Alert
from perf_pipeline.config import MetricThreshold, ModelConfig
from perf_pipeline.drift import DATASET_COLUMN
from perf_pipeline.metrics.performance import metric_direction

DRIFT_SHARE = "drift_share"


def performance_alerts(
    model: ModelConfig, day: dt.date, performance: pd.DataFrame, baseline: dict[str, float]
) -> list[Alert]:
    """Realized, overall metrics with enough labels, checked against each configured bound.

    A day with fewer labelled rows than `min_labelled_rows` never alerts: a handful of early
    labels says nothing about the model, and would page someone for noise.
    """
    overall = performance[
        (performance["segment_column"] == "__all__") & (~performance["is_estimated"].astype(bool))
    ]
    alerts = []
    for metric, bounds in model.thresholds.items():
        if metric == DRIFT_SHARE:
            continue
        rows = overall[overall["metric"] == metric]
        if (
            rows.empty
            or pd.isna(rows.iloc[0]["value"])
            or rows.iloc[0]["n"] < model.min_labelled_rows
        ):
            continue
        value, n = float(rows.iloc[0]["value"]), int(rows.iloc[0]["n"])
        problems, threshold = _violations(model, metric, value, bounds, baseline.get(metric))
        if problems:
            alerts.append(
                Alert(
                    model.model_id,
                    day,
                    "performance",
                    metric,
                    value,
                    baseline.get(metric),
                    threshold,
                    "error",
                    f"{model.model_id} {day}: {metric} = {value:.4g} on {n} labelled rows; "
                    + "; ".join(problems),
                )
            )
    return alerts


def _violations(
    model: ModelConfig, metric: str, value: float, bounds: MetricThreshold, baseline: float | None
) -> tuple[list[str], float | None]:
    problems: list[str] = []
    threshold: float | None = None
    if bounds.min is not None and value < bounds.min:
        problems.append(f"below the minimum {bounds.min:g}")
        threshold = bounds.min
    if bounds.max is not None and value > bounds.max:
        problems.append(f"above the maximum {bounds.max:g}")
        threshold = bounds.max
    if bounds.max_drop is not None and baseline is not None:
        higher_is_better = metric_direction(model.task, metric)
        worsening = (baseline - value) if higher_is_better else (value - baseline)
        if worsening > bounds.max_drop:
            problems.append(
                f"{worsening:.4g} worse than the reference {baseline:.4g} (max {bounds.max_drop:g})"
            )
            threshold = (
                threshold
                if threshold is not None
                else (
                    baseline - bounds.max_drop if higher_is_better else baseline + bounds.max_drop
                )
            )
    return problems, threshold


def drift_alerts(model: ModelConfig, day: dt.date, drift: pd.DataFrame) -> list[Alert]:
    """A `drift` alert exactly on the days the drift table calls the dataset drifted.

    One setting decides both (`drift.share_threshold`, which `thresholds.drift_share.max` sets):
    the dataset drifts when the share of drifted columns reaches it, as in Evidently, so the
    table and the alert can never disagree about a day.
    """
    dataset = drift[drift["column"] == DATASET_COLUMN]
    if dataset.empty:
        return []
    drifted = dataset.iloc[0]["drifted"]
    if pd.isna(drifted) or not bool(drifted):
        return []
    share = float(dataset.iloc[0]["statistic"])
    limit = float(dataset.iloc[0]["threshold"])
    columns = drift[
        (drift["column"] != DATASET_COLUMN) & (drift["drifted"].fillna(False).astype(bool))
    ]
    names = ", ".join(sorted(columns["column"]))
    return [
        Alert(
            model.model_id,
            day,
            "drift",
            DATASET_COLUMN,
            share,
            None,
            limit,
            "warning",
            f"{model.model_id} {day}: {share:.0%} of columns drifted (dataset drift at "
            f"{limit:.0%}): {names}",
        )
    ]
