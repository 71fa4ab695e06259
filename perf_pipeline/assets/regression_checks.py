"""Regressions as asset checks: the catalog turns red or yellow on the day a model regresses.

One check per thresholded metric on `<model>/performance` (`<metric>_within_bounds`) and one,
`dataset_drift`, on `<model>/drift`. They judge exactly what the alerts stage judges, with its
public rules (`perf_pipeline.alerts.evaluate.regressions` for performance, whose estimated
alerts the realized numbers may have settled, and `regressions.drift_alerts`), so a check and an
alert never disagree. A check covers its run's days: it fails when any of them regressed, with
severity ERROR when one of those alerts is `error`/`critical` and WARN when all are warnings,
and names the days with their values. A blocked day cannot be judged: the check fails (WARN)
saying so, instead of passing on nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping

import dagster as dg
import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.names import dagster_name
from perf_pipeline.paths import DataPaths

DATASET_DRIFT = "dataset_drift"
DRIFT_SHARE = "drift_share"
ERROR_SEVERITIES = frozenset({"error", "critical"})
MAX_DAYS_SHOWN = 5


def metric_check_name(metric: str) -> str:
    return dagster_name(f"{metric}_within_bounds")


def thresholded_metrics(model: ModelConfig) -> list[str]:
    return sorted(m for m in model.thresholds if m != DRIFT_SHARE)


def performance_check_specs(model: ModelConfig, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name=metric_check_name(metric),
            asset=key,
            description=f"{metric} within its thresholds "
            f"({model.thresholds[metric].model_dump(exclude_none=True)}), realized on final "
            "days, estimated before",
        )
        for metric in thresholded_metrics(model)
    ]


def drift_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name=DATASET_DRIFT,
            asset=key,
            description="The share of drifted columns stays below the dataset-drift threshold",
        )
    ]


def _regressed_result(
    key: dg.AssetKey, name: str, alerts: list, blocked: Mapping[dt.date, str], days: int
) -> dg.AssetCheckResult:
    """Fails on any alert (its worst severity) or blocked day (WARN); passes otherwise."""
    alerts = sorted(alerts, key=lambda a: a.date)
    severe = any(a.severity in ERROR_SEVERITIES for a in alerts)
    metadata: dict[str, object] = {
        "days_evaluated": days,
        "days_regressed": len({a.date for a in alerts}),
        "regressed_days": ", ".join(sorted({a.date.isoformat() for a in alerts})) or "none",
        "blocked_days": ", ".join(d.isoformat() for d in sorted(blocked)) or "none",
    }
    for alert in alerts[-MAX_DAYS_SHOWN:]:
        metadata[f"{alert.date.isoformat()} {alert.kind}"] = dg.MetadataValue.text(alert.message)
    if alerts:
        last = alerts[-1]
        metadata["last_value"] = float(last.value) if last.value is not None else None
        description = f"regressed on {metadata['days_regressed']} of {days} day(s): {last.message}"
    elif blocked:
        description = "; ".join(blocked[d] for d in sorted(blocked))
    else:
        description = f"within bounds on {days} day(s)"
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=not alerts and not blocked,
        severity=dg.AssetCheckSeverity.ERROR if severe else dg.AssetCheckSeverity.WARN,
        metadata={k: v for k, v in metadata.items() if v is not None},
        description=description,
    )


AlertsByCheck = Callable[
    [duckdb.DuckDBPyConnection, DataPaths, ModelConfig, list[dt.date]], dict[str, list]
]


def _performance_alerts(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, usable: list[dt.date]
) -> dict[str, list]:
    """Each thresholded metric's check name -> its alerts on the run's days."""
    from perf_pipeline.alerts.confirmation import NOT_CONFIRMED
    from perf_pipeline.alerts.evaluate import regressions
    from perf_pipeline.alerts.regressions import ESTIMATED_PERFORMANCE, PERFORMANCE

    settled = regressions(con, paths, model, usable) if usable else []
    # An estimated alert the final realized value did not confirm is no regression.
    alerts = [
        s.alert
        for s in settled
        if s.alert.kind in (PERFORMANCE, ESTIMATED_PERFORMANCE) and s.status != NOT_CONFIRMED
    ]
    return {
        metric_check_name(metric): [a for a in alerts if a.metric_or_column == metric]
        for metric in thresholded_metrics(model)
    }


def _drift_alerts(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, usable: list[dt.date]
) -> dict[str, list]:
    """The dataset-drift check's name -> its alerts on the run's days."""
    import pandas as pd

    from perf_pipeline.alerts.regressions import drift_alerts
    from perf_pipeline.lake import day_files, read_files_sql

    files = day_files(paths, "drift", model.model_id, usable)
    frame = con.execute(f"SELECT * FROM {read_files_sql(files)}").df() if files else None
    alerts = []
    if frame is not None and not frame.empty:
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
        for day in usable:
            alerts += drift_alerts(model, day, frame[frame["date"] == day])
    return {DATASET_DRIFT: alerts}


def _check_results(alerts_by_check: AlertsByCheck) -> Callable[..., Iterator[dg.AssetCheckResult]]:
    """The checks of one table over a run's days, judged by `alerts_by_check`: every table's
    checks count their days and report blocked days the same way."""

    def results(
        con: duckdb.DuckDBPyConnection,
        paths: DataPaths,
        model: ModelConfig,
        key: dg.AssetKey,
        usable: list[dt.date],
        blocked: Mapping[dt.date, str],
    ) -> Iterator[dg.AssetCheckResult]:
        days = len(usable) + len(blocked)
        for name, alerts in alerts_by_check(con, paths, model, usable).items():
            yield _regressed_result(key, name, alerts, blocked, days)

    return results


performance_check_results = _check_results(_performance_alerts)
drift_check_results = _check_results(_drift_alerts)


def blocked_check_evaluations(
    model: ModelConfig, reasons: Mapping[dt.date, str]
) -> Iterator[dg.AssetCheckEvaluation]:
    """Failed evaluations of every regression check, for a run whose gate blocks the steps
    that would run them: the checks then say why the day was not judged."""
    from perf_pipeline.assets.common import asset_key

    description = "; ".join(reasons[d] for d in sorted(reasons))
    metadata = {"blocked_days": ", ".join(d.isoformat() for d in sorted(reasons))}
    checks = [("performance", metric_check_name(m)) for m in thresholded_metrics(model)]
    for stage, name in [*checks, ("drift", DATASET_DRIFT)]:
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key(model.model_id, stage),
            check_name=name,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
            description=description,
        )
