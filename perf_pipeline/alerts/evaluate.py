"""The regression stage: each day's performance and drift held to the model's thresholds.

The rules themselves live in `perf_pipeline.alerts.regressions` (and `confirmation`, for what
became of an estimated alert); this module reads a run's days from the lake, with each
performance row's read-time `status`, applies them day by day, and writes the day's
`regressions` alert file (an empty one for a day without alerts, so a re-run clears what an
earlier run raised). It reads only what the rules need: the run's days, the `persist_days - 1`
days before each (judged without raising, for persistence), the trailing band windows
(`alerts.bands`) and the run days' `drift` and `data_quality` rows (the root cause,
`alerts.root_cause`), so a long backfill costs the same per day as a short one.

A day turns final when its label delay runs out, without new data. So the stage also judges, for
each day T of a run, the day T - `label_delay_days` (`closing_days`), whose delay ran out with
T's arrivals: the realized alerts it held back are raised then, and its estimated alerts get
their verdict, even when no label arrived for it at the end. (A daily run the gate blocks skips
this stage; that closing day is judged by the next run that reaches it, a late label, or a
backfill over it.)

Last, the same days' estimates are held to their final realized values
(`perf_pipeline.alerts.estimator_quality`): the `estimation_quality` rows of the days, and an
`estimator_quality` alert where the estimator's recent errors left their expected band.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.stages.gate import REGRESSIONS_WRITER

if TYPE_CHECKING:
    import pandas as pd

    from perf_pipeline.alerts.bands import DayBands
    from perf_pipeline.alerts.confirmation import Settled
    from perf_pipeline.alerts.records import Alert


def _read_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    table: str,
    model: ModelConfig,
    days: list[dt.date],
    today: dt.date | None = None,
) -> pd.DataFrame | None:
    """The rows of `days`; `performance` rows with their `status` as of `today`."""
    import pandas as pd

    from perf_pipeline.lake import day_files, read_files_sql
    from perf_pipeline.performance_status import StatusSettings, with_status_sql

    files = day_files(paths, table, model.model_id, days)
    if not files:
        return None
    query = f"SELECT * FROM {read_files_sql(files)}"
    if table == "performance":
        today = today or dt.datetime.now(dt.UTC).date()
        query = with_status_sql(read_files_sql(files), [StatusSettings.of(model)], today)
    frame = con.execute(query).df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def _earlier_estimated(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date]
) -> dict[dt.date, list[Alert]]:
    """The estimated alerts this stage recorded for `days` before, per day."""
    from perf_pipeline.alerts.records import Alert
    from perf_pipeline.alerts.regressions import ESTIMATED_PERFORMANCE
    from perf_pipeline.lake import day_files, read_files_sql

    files = day_files(paths, "alerts", model_id, days, f"{REGRESSIONS_WRITER}.parquet")
    if not files:
        return {}
    rows = con.execute(
        "SELECT model_id, date, kind, metric_or_column, value, baseline, threshold, severity, "
        f"message FROM {read_files_sql(files)} WHERE kind = ? ORDER BY metric_or_column",
        [ESTIMATED_PERFORMANCE],
    ).fetchall()
    earlier: dict[dt.date, list[Alert]] = {}
    for row in rows:
        earlier.setdefault(row[1], []).append(Alert(*row))
    return earlier


def _day_breaches(model: ModelConfig, day: dt.date, tables: _RunTables) -> list[Alert]:
    """Every bound `day` breaks (realized, estimated and drift), before persistence."""
    from perf_pipeline.alerts.regressions import (
        drift_alerts,
        estimated_breaches,
        performance_alerts,
    )

    breaches: list[Alert] = []
    todays = tables.performance.get(day)
    if todays is not None and not todays.empty:
        baseline = tables.baseline(day)
        bands = tables.bands.for_day(day)
        breaches += performance_alerts(model, day, todays, baseline, bands)
        breaches += estimated_breaches(model, day, todays, baseline, bands)
    if day in tables.drift:
        breaches += drift_alerts(model, day, tables.drift[day])
    return breaches


def _judge_day(
    model: ModelConfig,
    day: dt.date,
    fired: list[Alert],
    earlier: list[Alert],
    tables: _RunTables,
) -> list[Settled]:
    """The day's persisted breaches as alerts: realized, estimated (settled against the
    realized verdict, with the ones recorded before) and drift; the performance kinds with
    their root cause in the message and as JSON."""
    from dataclasses import replace

    from perf_pipeline.alerts.confirmation import Settled, settle_estimated, without_verdict
    from perf_pipeline.alerts.regressions import (
        DRIFT,
        ESTIMATED_PERFORMANCE,
        PERFORMANCE,
        settled_metrics,
    )
    from perf_pipeline.alerts.root_cause import root_cause, with_root_cause

    drift = [Settled(a) for a in fired if a.kind == DRIFT]
    todays = tables.performance.get(day)
    if todays is None or todays.empty:
        return drift
    causes: dict[str, str] = {}

    def explained(alert: Alert) -> Alert:
        cause = root_cause(model, alert, todays, tables.drift.get(day), tables.quality.get(day))
        causes[alert.alert_id] = cause.as_json()
        return with_root_cause(alert, cause)

    settled_now = settled_metrics(model, todays)
    realized = [explained(a) for a in fired if a.kind == PERFORMANCE]
    estimated = [
        explained(a)
        for a in fired
        if a.kind == ESTIMATED_PERFORMANCE and a.metric_or_column not in settled_now
    ]
    kept = [explained(without_verdict(a)) for a in earlier]
    settled = settle_estimated(estimated, kept, realized, todays, settled_now)
    return [
        *(Settled(a, root_cause=causes[a.alert_id]) for a in realized),
        *(replace(s, root_cause=causes[s.alert.alert_id]) for s in settled),
        *drift,
    ]


@dataclass
class _RunTables:
    """What a run reads once: its days' (and their lookback's) rows per day, the bands and
    the baseline of each day."""

    performance: dict[dt.date, pd.DataFrame]
    drift: dict[dt.date, pd.DataFrame]
    quality: dict[dt.date, pd.DataFrame]
    bands: DayBands
    baseline: Callable[[dt.date], dict[str, float]]


def _by_day(frame: pd.DataFrame | None) -> dict[dt.date, pd.DataFrame]:
    return {} if frame is None else {day: rows for day, rows in frame.groupby("date")}


def _run_tables(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    judged: list[dt.date],
    today: dt.date | None,
) -> _RunTables:
    """The partitions the run needs and no others: `performance` of the judged days and of
    their trailing band windows, `drift` of the judged days, `data_quality` of the run's."""
    from perf_pipeline.alerts.bands import DayBands, trailing_days_needed
    from perf_pipeline.tables.performance import baseline_lookup

    read = sorted(set(judged) | trailing_days_needed(model, judged))
    performance = _read_days(con, paths, "performance", model, read, today)
    drift = _read_days(con, paths, "drift", model, judged)
    quality = _read_days(con, paths, "data_quality", model, days)
    return _RunTables(
        _by_day(performance),
        _by_day(drift),
        _by_day(quality),
        DayBands(con, paths, model, performance),
        baseline_lookup(con, paths, model),
    )


def regressions(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    today: dt.date | None = None,
) -> list[Settled]:
    """The performance and drift alerts of `days`, with their status, from what the lake holds
    for them now (and the estimated alerts recorded for them before).

    A breach fires once it held for its threshold's `persist_days`, so the days before each
    (as many as the longest `persist_days` asks for) are judged too, without raising.
    """
    from perf_pipeline.alerts.persistence import longest_persistence, lookback_days
    from perf_pipeline.alerts.regressions import persisted

    judged = lookback_days(days, longest_persistence(model))
    tables = _run_tables(con, paths, model, days, judged, today)
    by_day = {day: _day_breaches(model, day, tables) for day in judged}
    breaches = {(a.date, a.kind, a.metric_or_column) for found in by_day.values() for a in found}
    earlier = _earlier_estimated(con, paths, model.model_id, days)
    raised: list[Settled] = []
    for day in days:
        fired = persisted(model, by_day[day], breaches)
        raised += _judge_day(model, day, fired, earlier.get(day, []), tables)
    return raised


def closing_days(paths: DataPaths, model: ModelConfig, days: list[dt.date]) -> list[dt.date]:
    """Days outside `days` whose label delay ran out with one of them: T - `label_delay_days`
    for each T, from the model's first day on, where a `performance` partition exists."""
    from perf_pipeline.lake import day_files

    delay = dt.timedelta(days=model.label_delay_days)
    candidates = {d - delay for d in days} - set(days)
    return sorted(
        d
        for d in candidates
        if d >= model.start_date and day_files(paths, "performance", model.model_id, [d])
    )


def _write(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    days: list[dt.date],
    settled: list[Settled],
) -> None:
    """Replace the stage's file of each day, each alert with its own status and root cause."""
    from perf_pipeline.alerts.records import write_alerts

    write_alerts(
        con,
        paths,
        model_id,
        days,
        [s.alert for s in settled],
        REGRESSIONS_WRITER,
        statuses={s.alert.alert_id: s.status for s in settled},
        root_causes={s.alert.alert_id: s.root_cause for s in settled},
    )


def evaluate_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    today: dt.date | None = None,
) -> list[Settled]:
    """Raise and write the regression alerts of the usable `days`, then the estimator's
    (`estimation_quality` rows and `estimator_quality` alerts of every day in `days`: a blocked
    day, whose performance the gate cleared, gets none); returns them with their status.
    `today` (default: the UTC date now) decides which days are final."""
    from perf_pipeline.alerts.confirmation import Settled
    from perf_pipeline.alerts.estimator_quality import judge_estimator_quality
    from perf_pipeline.stages.gate import usable_days
    from perf_pipeline.views import refresh_views

    usable, _ = usable_days(con, paths, model, days)
    raised = regressions(con, paths, model, usable, today)
    _write(con, paths, model.model_id, usable, raised)
    estimator = judge_estimator_quality(con, paths, model, sorted(set(days)), today)
    refresh_views(paths)
    return [*raised, *(Settled(a) for a in estimator)]
