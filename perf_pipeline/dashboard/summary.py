"""A model's current state in a few numbers: what `perf-pipeline status` prints and what the
top-level `reports/index.html` lists.

For each shown metric: its latest final, provisional and estimated values with their days, the
reference and bound, OK/ALERT, and the last days' trend. The verdict follows the alerts: a final
value outside its bound is an ALERT, and so is an estimate for a day after the latest final one
(the estimate is all there is to judge those days by); provisional values move as labels land
and are shown, not judged.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perf_pipeline.config import ModelConfig
from perf_pipeline.dashboard.bounds import Bound, metric_bound
from perf_pipeline.dashboard.queries import (
    daily_volume,
    metric_series,
    model_alerts,
    shown_metrics,
    stage_tables,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.performance_status import ESTIMATED, FINAL, PROVISIONAL

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

OK = "OK"
ALERT = "ALERT"
NO_DATA = "NO DATA"
TREND_DAYS = 14
_BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Point:
    day: dt.date
    value: float
    n: int
    reference: float | None


@dataclass(frozen=True)
class MetricSummary:
    metric: str
    final: Point | None
    provisional: Point | None
    estimated: Point | None
    reference: float | None
    bound: Bound
    state: str
    trend: list[float | None]


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    latest_day: dt.date | None
    metrics: list[MetricSummary]
    open_alerts: pd.DataFrame
    latest_volume: dict | None
    state: str


def sparkline(values: list[float | None]) -> str:
    """One block per value scaled between the window's min and max; a gap for a missing day."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    chars = []
    for v in values:
        if v is None or math.isnan(v):
            chars.append(" ")
        elif span == 0:
            chars.append(_BLOCKS[len(_BLOCKS) // 2])
        else:
            chars.append(_BLOCKS[min(len(_BLOCKS) - 1, int((v - low) / span * len(_BLOCKS)))])
    return "".join(chars)


def _latest(rows: pd.DataFrame, status: str) -> Point | None:
    picked = rows[(rows["status"] == status) & rows["value"].notna()]
    if picked.empty:
        return None
    row = picked.sort_values("date").iloc[-1]
    return Point(
        _as_date(row["date"]), float(row["value"]), _count(row["n"]), _number(row["reference"])
    )


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)


def _count(value) -> int:
    return 0 if value is None or value != value else int(value)


def _as_date(value) -> dt.date:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def _trend(rows: pd.DataFrame, last_day: dt.date, days: int) -> list[float | None]:
    """Per day up to `last_day`: the realized value, else the estimate."""
    by_day: dict[dt.date, float] = {}
    for row in rows[rows["value"].notna()].sort_values("is_estimated").itertuples():
        by_day.setdefault(_as_date(row.date), float(row.value))
    window = [last_day - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [by_day.get(day) for day in window]


def summarize_metric(
    model: ModelConfig, metric: str, rows: pd.DataFrame, last_day: dt.date, days: int
) -> MetricSummary:
    """`rows`: the metric's overall series (`queries.metric_series`)."""
    final, provisional = _latest(rows, FINAL), _latest(rows, PROVISIONAL)
    estimated = _latest(rows, ESTIMATED)
    threshold = model.thresholds.get(metric)
    judged = [final] if final else []
    if estimated and (final is None or estimated.day > final.day):
        judged.append(estimated)
    alerting = any(
        metric_bound(model, metric, threshold, p.reference).breaks(p.value) for p in judged
    )
    newest = max(
        (p for p in (final, provisional, estimated) if p), key=lambda p: p.day, default=None
    )
    reference = newest.reference if newest else None
    return MetricSummary(
        metric,
        final,
        provisional,
        estimated,
        reference,
        metric_bound(model, metric, threshold, reference),
        ALERT if alerting else OK,
        _trend(rows, last_day, days),
    )


def summarize_metrics(
    model: ModelConfig, metrics: list[str], series: pd.DataFrame, days: int = TREND_DAYS
) -> list[MetricSummary]:
    if series.empty:
        return []
    last_day = _as_date(series["date"].max())
    return [
        summarize_metric(model, metric, series[series["metric"] == metric], last_day, days)
        for metric in metrics
        if (series["metric"] == metric).any()
    ]


def summary_from_frames(
    model: ModelConfig,
    metrics: list[str],
    series: pd.DataFrame,
    volume: pd.DataFrame,
    alerts: pd.DataFrame,
) -> ModelSummary:
    """ALERT when a metric is ALERT or an alert is open on the model's latest day (the latest
    day ingested or with a value, final, provisional or estimated); NO DATA before its first
    run."""
    summaries = summarize_metrics(model, metrics, series)
    open_alerts = alerts[alerts["status"] == "open"]
    latest_volume = None if volume.empty else volume.iloc[-1].to_dict()
    points = [p for s in summaries for p in (s.final, s.provisional, s.estimated) if p]
    days = [_as_date(d) for d in volume["date"]] + [p.day for p in points]
    latest_day = max(days, default=None)
    if latest_day is None:
        state = NO_DATA
    elif any(s.state == ALERT for s in summaries) or (
        not open_alerts.empty and _as_date(open_alerts["date"].max()) >= latest_day
    ):
        state = ALERT
    else:
        state = OK
    return ModelSummary(model.model_id, latest_day, summaries, open_alerts, latest_volume, state)


def model_summary(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> ModelSummary:
    staged = stage_tables(con, paths, model, ("performance", "ingest_log", "alerts"))
    metrics = shown_metrics(con, staged)
    return summary_from_frames(
        model,
        metrics,
        metric_series(con, paths, staged, metrics),
        daily_volume(con, staged),
        model_alerts(con, staged),
    )


def index_entry(summary: ModelSummary) -> dict:
    """What the models index shows of a model, as JSON-ready values (kept beside its page, so
    the index is rebuilt from every model's file without querying any model's tables)."""
    return {
        "model_id": summary.model_id,
        "state": summary.state,
        "latest_day": summary.latest_day.isoformat() if summary.latest_day else None,
        "open_alerts": len(summary.open_alerts),
        "metrics": [
            {
                "metric": m.metric,
                "state": m.state,
                "final": None if m.final is None else [m.final.value, m.final.day.isoformat()],
                "bound": m.bound.describe(),
                "trend": sparkline(m.trend),
            }
            for m in summary.metrics
        ],
    }
