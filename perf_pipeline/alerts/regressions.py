"""Regressions: a metric past its configured bounds, or drift share above its maximum.

Three kinds: `performance` (realized metrics, on final days unless
`labels.alert_on_provisional`), `estimated_performance` (estimated metrics, same bounds, until
the realized value is final and judgeable) and `drift`. The kind is part of an alert's id, so
an estimated and a realized alert on one day and metric are two alerts.

A metric breaks its threshold when its overall value is below `min`, above `max`, worse than the
reference by more than `max_drop`, or outside its statistical `band` on the metric's bad side
(`alerts.bands`). With `require_ci`, a bound counts as broken only when the row's whole 95 %
interval lies past it (`ci_high` below a lower bound, `ci_low` above an upper one); a row
without an interval then breaks nothing. The functions here give each day's breaches;
`persisted` keeps those that held for the threshold's `persist_days` (`alerts.persistence`).

Severity (`alerts.severity`): the threshold's `severity`, else `critical` for realized
performance and `warning` for estimated performance and drift.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pandas as pd

from perf_pipeline.alerts.bands import BandLookup, Bounds
from perf_pipeline.alerts.persistence import BreachKey, describe_run, held
from perf_pipeline.alerts.records import Alert
from perf_pipeline.alerts.severity import CRITICAL, WARNING
from perf_pipeline.config import MetricThreshold, ModelConfig
from perf_pipeline.drift import DATASET_COLUMN
from perf_pipeline.metrics.performance import metric_direction
from perf_pipeline.performance_status import FINAL, PROVISIONAL

DRIFT_SHARE = "drift_share"
PERFORMANCE = "performance"
ESTIMATED_PERFORMANCE = "estimated_performance"
DRIFT = "drift"
DEFAULT_SEVERITY = {PERFORMANCE: CRITICAL, ESTIMATED_PERFORMANCE: WARNING, DRIFT: WARNING}


@dataclass(frozen=True)
class Breach:
    """One broken bound: its value, whether the metric fell below it, what it is measured
    against (the reference value, the band's centre) and how the message says it."""

    bound: float
    below: bool
    baseline: float | None
    text: str


def _threshold_of(model: ModelConfig, kind: str, subject: str) -> MetricThreshold | None:
    """The configured bounds an alert is judged by: drift alerts by `drift_share`."""
    return model.thresholds.get(DRIFT_SHARE if kind == DRIFT else subject)


def severity_of(model: ModelConfig, kind: str, subject: str) -> str:
    bounds = _threshold_of(model, kind, subject)
    configured = bounds.severity if bounds is not None else None
    return configured or DEFAULT_SEVERITY[kind]


def performance_alerts(
    model: ModelConfig,
    day: dt.date,
    performance: pd.DataFrame,
    baseline: dict[str, float],
    bands: BandLookup | None = None,
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
    realized = realized[realized["status"].isin(allowed)]
    return _threshold_alerts(model, day, realized, baseline, PERFORMANCE, bands)


def estimated_breaches(
    model: ModelConfig,
    day: dt.date,
    performance: pd.DataFrame,
    baseline: dict[str, float],
    bands: BandLookup | None = None,
) -> list[Alert]:
    """Every estimated overall metric past its bounds, settled or not: what persistence
    counts (an estimate that broke its bound yesterday broke it, whatever the labels said
    since).

    The alerts stage (`alerts.evaluate`) raises them only for the metrics whose realized value
    is not settled yet (`settled_metrics`): the estimate flags a decay before the labels can,
    and once the realized value is final and judgeable it is the answer. The bounds, reference
    values and `min_labelled_rows` (on the rows estimated on) are the realized metric's.
    """
    estimated = _overall(performance, estimated=True)
    return _threshold_alerts(model, day, estimated, baseline, ESTIMATED_PERFORMANCE, bands)


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


def persisted(model: ModelConfig, alerts: list[Alert], breaches: set[BreachKey]) -> list[Alert]:
    """The `alerts` whose breach held on their threshold's `persist_days` consecutive days
    (`breaches`: every breach of the judged days and the days before them)."""
    kept = []
    for alert in alerts:
        bounds = _threshold_of(model, alert.kind, alert.metric_or_column)
        days = bounds.persist_days if bounds is not None else 1
        if held(breaches, alert.date, alert.kind, alert.metric_or_column, days):
            kept.append(replace(alert, message=alert.message + describe_run(alert.date, days)))
    return kept


def _overall(performance: pd.DataFrame, *, estimated: bool) -> pd.DataFrame:
    flags = performance["is_estimated"].fillna(False).astype(bool)
    return performance[(performance["segment_column"] == "__all__") & (flags == estimated)]


def _threshold_alerts(
    model: ModelConfig,
    day: dt.date,
    overall: pd.DataFrame,
    baseline: dict[str, float],
    kind: str,
    bands: BandLookup | None,
) -> list[Alert]:
    """One alert of `kind` per configured metric whose overall row breaks a bound."""
    alerts = []
    for metric, bounds in model.thresholds.items():
        rows = overall[overall["metric"] == metric]
        if metric == DRIFT_SHARE or rows.empty:
            continue
        row = rows.iloc[0]
        if pd.isna(row["value"]) or row["n"] < model.min_labelled_rows:
            continue
        value, n = float(row["value"]), int(row["n"])
        band = bands(metric, n, bounds.band) if bands is not None and bounds.band else None
        found = _breaches(model, metric, value, bounds, baseline.get(metric), band)
        if bounds.require_ci:
            found = [b for b in found if _interval_clears(b, row.get("ci_low"), row.get("ci_high"))]
        if not found:
            continue
        first = found[0]
        message = (
            _describe(model, day, kind, metric, value, n) + "; " + "; ".join(b.text for b in found)
        )
        if bounds.require_ci:
            message += f" (95 % interval [{row['ci_low']:.4g}, {row['ci_high']:.4g}] clear of it)"
        alerts.append(
            Alert(
                model.model_id,
                day,
                kind,
                metric,
                value,
                first.baseline if first.baseline is not None else baseline.get(metric),
                first.bound,
                severity_of(model, kind, metric),
                message,
            )
        )
    return alerts


def _interval_clears(breach: Breach, ci_low: object, ci_high: object) -> bool:
    """The whole interval lies past the bound: a breach the sampling error cannot explain."""
    edge = ci_high if breach.below else ci_low
    if edge is None or pd.isna(edge):
        return False
    return float(edge) < breach.bound if breach.below else float(edge) > breach.bound


def _describe(
    model: ModelConfig, day: dt.date, kind: str, metric: str, value: float, n: int
) -> str:
    if kind == PERFORMANCE:
        return f"{model.model_id} {day}: {metric} = {value:.4g} on {n} labelled rows"
    return f"{model.model_id} {day}: estimated {metric} = {value:.4g} over {n} rows"


def _breaches(
    model: ModelConfig,
    metric: str,
    value: float,
    bounds: MetricThreshold,
    reference: float | None,
    band: Bounds | None,
) -> list[Breach]:
    """Each bound the value breaks, in the order min, max, max_drop, band."""
    found: list[Breach] = []
    if bounds.min is not None and value < bounds.min:
        found.append(Breach(bounds.min, True, None, f"below the minimum {bounds.min:g}"))
    if bounds.max is not None and value > bounds.max:
        found.append(Breach(bounds.max, False, None, f"above the maximum {bounds.max:g}"))
    higher_is_better = metric_direction(model.task, metric)
    if bounds.max_drop is not None and reference is not None:
        worsening = (reference - value) if higher_is_better else (value - reference)
        if worsening > bounds.max_drop:
            limit = reference - bounds.max_drop if higher_is_better else reference + bounds.max_drop
            text = (
                f"{worsening:.4g} worse than the reference {reference:.4g} "
                f"(max {bounds.max_drop:g})"
            )
            found.append(Breach(limit, higher_is_better, reference, text))
    if band is not None:
        if higher_is_better and value < band.low:
            found.append(Breach(band.low, True, band.center, f"below its {band.describe()}"))
        elif not higher_is_better and value > band.high:
            found.append(Breach(band.high, False, band.center, f"above its {band.describe()}"))
    return found


def drift_alerts(model: ModelConfig, day: dt.date, drift: pd.DataFrame) -> list[Alert]:
    """A `drift` alert on the days the dataset drifted.

    Without `drift.min_psi`, exactly the days the drift table calls the dataset drifted: one
    setting decides both (`drift.share_threshold`, which `thresholds.drift_share.max` sets), so
    the table and the alert can never disagree about a day. With it, a column counts only when
    it drifted by its own method (p-value or distance) and its PSI is at least `min_psi` (a
    column without PSI does not count), and the alert fires when that share of the day's tested
    columns (those with a `drifted` verdict) reaches the threshold.
    """
    dataset = drift[drift["column"] == DATASET_COLUMN]
    if dataset.empty or pd.isna(dataset.iloc[0]["drifted"]):
        return []
    limit = float(dataset.iloc[0]["threshold"])
    # The columns that could be tested, as in the dataset row's own share.
    columns = drift[(drift["column"] != DATASET_COLUMN) & drift["drifted"].notna()]
    drifted = columns[columns["drifted"].fillna(False).astype(bool)]
    floor = model.drift.min_psi
    if floor is None:
        if not bool(dataset.iloc[0]["drifted"]):
            return []
        share, how = float(dataset.iloc[0]["statistic"]), "drifted"
    else:
        drifted = drifted[drifted["psi"].fillna(float("-inf")) >= floor]
        share = len(drifted) / len(columns) if len(columns) else 0.0
        if share < limit:
            return []
        how = f"drifted with PSI >= {floor:g}"
    names = ", ".join(sorted(drifted["column"]))
    message = (
        f"{model.model_id} {day}: {share:.0%} of columns {how} (dataset drift at "
        f"{limit:.0%}): {names}"
    )
    severity = severity_of(model, DRIFT, DATASET_COLUMN)
    return [
        Alert(model.model_id, day, DRIFT, DATASET_COLUMN, share, None, limit, severity, message)
    ]
