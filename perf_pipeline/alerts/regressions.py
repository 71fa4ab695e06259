"""Regressions: a metric past its configured bounds, or drift share above its maximum.

Three kinds: `performance` (realized metrics, on final days unless
`labels.alert_on_provisional`), `estimated_performance` (estimated metrics, same bounds, until
the realized value is final and judgeable) and `drift`. The kind is part of an alert's id, so
an estimated and a realized alert on one day and metric are two alerts.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from perf_pipeline.alerts.records import Alert
from perf_pipeline.config import MetricThreshold, ModelConfig
from perf_pipeline.drift import DATASET_COLUMN
from perf_pipeline.metrics.performance import metric_direction
from perf_pipeline.performance_status import FINAL, PROVISIONAL

DRIFT_SHARE = "drift_share"
PERFORMANCE = "performance"
ESTIMATED_PERFORMANCE = "estimated_performance"


def performance_alerts(
    model: ModelConfig, day: dt.date, performance: pd.DataFrame, baseline: dict[str, float]
) -> list[Alert]:
    """Realized, overall metrics with enough labels, checked against each configured bound.

    A day with fewer labelled rows than `min_labelled_rows` never alerts: a handful of early
    labels says nothing about the model, and would page someone for noise. Nor does a day whose
    realized numbers are still provisional (`performance_status`), unless the model sets
    `labels.alert_on_provisional`: they move as labels land, and the `estimated_performance`
    alert already flags a decay before then. `performance` carries the read-time `status`.
    """
    allowed = {FINAL, PROVISIONAL} if model.labels.alert_on_provisional else {FINAL}
    realized = _overall(performance, estimated=False)
    return _threshold_alerts(
        model, day, realized[realized["status"].isin(allowed)], baseline, PERFORMANCE
    )


def estimated_alerts(
    model: ModelConfig, day: dt.date, performance: pd.DataFrame, baseline: dict[str, float]
) -> list[Alert]:
    """Estimated, overall metrics held to the same bounds, against the same reference values.

    Raised for the metrics whose realized value is not settled yet (`settled_metrics`): the
    estimate flags a decay before the labels can, and once the realized value is final and
    judgeable it is the answer (`alerts.confirmation` then says whether it confirmed the
    estimate). A day whose delay passed without enough labels keeps its estimate as the only
    judge. `min_labelled_rows` applies to the rows estimated on.
    """
    settled = settled_metrics(model, performance)
    estimated = _overall(performance, estimated=True)
    estimated = estimated[~estimated["metric"].isin(settled)]
    return _threshold_alerts(model, day, estimated, baseline, ESTIMATED_PERFORMANCE)


def settled_metrics(model: ModelConfig, performance: pd.DataFrame) -> set[str]:
    """Metrics whose realized overall value is final and judgeable (defined, on at least
    `min_labelled_rows` labels): what decides an estimated alert's fate."""
    realized = _overall(performance, estimated=False)
    judged = realized[
        (realized["status"] == FINAL)
        & realized["value"].notna()
        & (realized["n"] >= model.min_labelled_rows)
    ]
    return set(judged["metric"])


def _overall(performance: pd.DataFrame, *, estimated: bool) -> pd.DataFrame:
    flags = performance["is_estimated"].fillna(False).astype(bool)
    return performance[(performance["segment_column"] == "__all__") & (flags == estimated)]


def _threshold_alerts(
    model: ModelConfig, day: dt.date, overall: pd.DataFrame, baseline: dict[str, float], kind: str
) -> list[Alert]:
    """One alert of `kind` per configured metric whose overall row breaks a bound."""
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
                    kind,
                    metric,
                    value,
                    baseline.get(metric),
                    threshold,
                    "error" if kind == PERFORMANCE else "warning",
                    _describe(model, day, kind, metric, value, n) + "; " + "; ".join(problems),
                )
            )
    return alerts


def _describe(
    model: ModelConfig, day: dt.date, kind: str, metric: str, value: float, n: int
) -> str:
    if kind == PERFORMANCE:
        return f"{model.model_id} {day}: {metric} = {value:.4g} on {n} labelled rows"
    return f"{model.model_id} {day}: estimated {metric} = {value:.4g} over {n} rows"


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
