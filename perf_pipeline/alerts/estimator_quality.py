"""`estimator_quality` alerts: the estimator's recent errors have left their expected band.

An estimate's interval is built so that, while the estimator's assumptions hold, the final
realized value lands inside it on about 95 % of days (README, "How to read an estimate"). When
the days say otherwise, the estimates can no longer be trusted before the labels land (concept
drift: the same inputs now mean something else), and someone should know.

The rule, per model and overall metric, on each final day D that the alerts stage judges:

1. The window is the last `estimation.window_days` (default 14) final days up to and including
   D whose `estimation_quality` row is judgeable: it has an interval, and its realized value
   read at least `min_labelled_rows` labels (fewer labels measure the labels' noise). D must be
   one of them, and the window must be full: no verdict before then.
2. It trips when either
   - the realized value fell outside the interval on so many of the n window days that a
     calibrated estimator (a 5 % miss rate) would miss that often with probability below
     `estimation.max_miss_rate_p` (default 0.01): binomial P(X >= misses | n, 0.05) < max; or
   - the mean absolute error exceeds twice the mean standard error, where a day's standard
     error is its interval's half-width / 1.96 (a calibrated estimator's mean absolute error is
     about 0.8 standard errors).
3. An alert is raised on D when the window ending at D trips and the window ending at the
   metric's previous judgeable day did not (or had no verdict): one alert when the estimator
   goes wrong, not one every day while the window still holds the bad days. If it recovers and
   goes wrong again, it alerts again.

The alert (severity `warning`) has `value` = the window's miss rate, `baseline` = 0.05 and
`threshold` = the smallest miss rate of that window that trips the binomial test. Its id is
stable (model, day, kind, metric), each judged day's file is rewritten by a re-run, so neither a
re-run nor a recompute duplicates it.

A day's verdict reads its window and the window before it: its metric's `window_days` judgeable
rows before it, at most. So a run reads the rows of a stretch of days before its first day, long
enough that every metric judged on a run day has that many judgeable rows in it (twice as long,
until it does or reaches the model's first partition), not the whole history: the windows
are the same rows, the verdicts the same numbers, and a one-day run costs the same in its first
month as in its third year.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perf_pipeline.alerts.records import Alert
from perf_pipeline.alerts.severity import WARNING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from perf_pipeline.config.model import ModelConfig
    from perf_pipeline.paths import DataPaths

ESTIMATOR_QUALITY = "estimator_quality"
# The alerts file this step writes in each judged day's partition.
WRITER = "estimator_quality"
NOMINAL_MISS_RATE = 0.05
Z_95 = 1.96
MAX_ERROR_IN_STANDARD_ERRORS = 2.0


def binomial_tail(misses: int, days: int, rate: float = NOMINAL_MISS_RATE) -> float:
    """P(X >= misses) for X ~ Binomial(days, rate), summed exactly."""
    if misses <= 0:
        return 1.0
    terms = (
        math.comb(days, i) * rate**i * (1 - rate) ** (days - i) for i in range(misses, days + 1)
    )
    return min(1.0, math.fsum(terms))


def fewest_tripping_misses(days: int, max_p: float) -> int | None:
    """The fewest misses out of `days` the binomial test trips on (None: not even all)."""
    return next((k for k in range(days + 1) if binomial_tail(k, days) < max_p), None)


@dataclass(frozen=True)
class WindowVerdict:
    """What one metric's window ending on `last_day` says about the estimator."""

    metric: str
    first_day: dt.date
    last_day: dt.date
    days: int
    misses: int
    mean_abs_error: float
    mean_standard_error: float
    max_p: float

    @property
    def miss_rate(self) -> float:
        return self.misses / self.days

    @property
    def p_value(self) -> float:
        return binomial_tail(self.misses, self.days)

    @property
    def too_many_misses(self) -> bool:
        return self.p_value < self.max_p

    @property
    def error_limit(self) -> float:
        return MAX_ERROR_IN_STANDARD_ERRORS * self.mean_standard_error

    @property
    def errors_too_large(self) -> bool:
        return self.mean_abs_error > self.error_limit

    @property
    def tripped(self) -> bool:
        return self.too_many_misses or self.errors_too_large


def judgeable(history: pd.DataFrame, min_labelled_rows: int) -> pd.DataFrame:
    """The `estimation_quality` rows a window counts: with an interval, on enough labels."""
    usable = history["inside_interval"].notna() & (history["n_labelled"] >= min_labelled_rows)
    return history[usable].sort_values(["metric", "date"], ignore_index=True)


def metric_verdicts(rows: pd.DataFrame, window_days: int, max_p: float) -> list[WindowVerdict]:
    """The verdict of each full window over one metric's judgeable rows (oldest first)."""
    half_width = (rows["ci_high"] - rows["ci_low"]).abs() / 2
    verdicts = []
    for end in range(window_days, len(rows) + 1):
        window = rows.iloc[end - window_days : end]
        widths = half_width.iloc[end - window_days : end]
        verdicts.append(
            WindowVerdict(
                metric=str(window["metric"].iloc[0]),
                first_day=window["date"].iloc[0],
                last_day=window["date"].iloc[-1],
                days=window_days,
                misses=int((~window["inside_interval"].astype(bool)).sum()),
                mean_abs_error=float(window["abs_error"].mean()),
                mean_standard_error=float(widths.mean()) / Z_95,
                max_p=max_p,
            )
        )
    return verdicts


def newly_tripped(verdicts: list[WindowVerdict]) -> list[WindowVerdict]:
    """The verdicts that trip where the previous one (if any) did not."""
    return [
        v for i, v in enumerate(verdicts) if v.tripped and (i == 0 or not verdicts[i - 1].tripped)
    ]


def describe(model_id: str, verdict: WindowVerdict) -> str:
    """The alert's message: the metric, the window, the miss rate and the mean error."""
    v = verdict
    reasons = [
        reason
        for reason, holds in (
            ("too many misses", v.too_many_misses),
            ("errors too large", v.errors_too_large),
        )
        if holds
    ]
    compared = "<" if v.too_many_misses else ">="
    return (
        f"{model_id} {v.last_day}: the {v.metric} estimate no longer matches its realized "
        f"values ({' and '.join(reasons)}) over the last {v.days} final days "
        f"({v.first_day} to {v.last_day}): realized outside the 95 % interval on {v.misses} of "
        f"{v.days} days (miss rate {v.miss_rate:.1%}; binomial P(X >= {v.misses} | {v.days}, "
        f"0.05) = {v.p_value:.3g} {compared} {v.max_p:g}); mean absolute error "
        f"{v.mean_abs_error:.4g} against a limit of {v.error_limit:.4g} (2 x the mean standard "
        f"error {v.mean_standard_error:.4g})"
    )


def _alert(model_id: str, verdict: WindowVerdict) -> Alert:
    fewest = fewest_tripping_misses(verdict.days, verdict.max_p)
    return Alert(
        model_id,
        verdict.last_day,
        ESTIMATOR_QUALITY,
        verdict.metric,
        verdict.miss_rate,
        NOMINAL_MISS_RATE,
        None if fewest is None else fewest / verdict.days,
        WARNING,
        describe(model_id, verdict),
    )


def estimator_quality_alerts(
    model: ModelConfig, history: pd.DataFrame, days: list[dt.date]
) -> list[Alert]:
    """The alerts of `days` from the model's `estimation_quality` rows up to them."""
    settings = model.estimation
    rows = judgeable(history, model.min_labelled_rows)
    judged = set(days)
    alerts = []
    for _, metric_rows in rows.groupby("metric", sort=True):
        verdicts = metric_verdicts(
            metric_rows.reset_index(drop=True), settings.window_days, settings.max_miss_rate_p
        )
        alerts += [
            _alert(model.model_id, v) for v in newly_tripped(verdicts) if v.last_day in judged
        ]
    return sorted(alerts, key=lambda a: (a.date, a.metric_or_column))


def _rows_between(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    first: dt.date,
    last: dt.date,
) -> pd.DataFrame:
    """The model's `estimation_quality` rows from `first` to `last`, ordered as the windows
    read them (as `estimation_quality.read_through` orders the whole history)."""
    import pandas as pd

    from perf_pipeline.lake import day_files, read_files_sql
    from perf_pipeline.tables.estimation_quality import SCHEMA, TABLE

    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    files = day_files(paths, TABLE, model_id, span)
    if not files:
        return pd.DataFrame(columns=list(SCHEMA))
    frame = con.execute(
        f"SELECT * FROM {read_files_sql(files)} WHERE date <= ? ORDER BY metric, date", [last]
    ).df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def _covers(model: ModelConfig, rows: pd.DataFrame, days: list[dt.date]) -> bool:
    """Whether `rows` hold, for each metric judgeable on one of `days`, `window_days` judgeable
    rows before the first of them: its window and the previous one, for every run day."""
    usable = judgeable(rows, model.min_labelled_rows)
    first = min(days)
    judged = usable[usable["date"].isin(set(days))]["metric"].unique()
    before = usable[usable["date"] < first].groupby("metric").size()
    return all(before.get(m, 0) >= model.estimation.window_days for m in judged)


def _first_partition(paths: DataPaths, model_id: str) -> dt.date | None:
    """The model's oldest `estimation_quality` day (None: none), where widening stops."""
    from perf_pipeline.tables.estimation_quality import TABLE

    base = paths.partition_dir(TABLE, model_id, None)
    names = [p.name.removeprefix("date=") for p in base.glob("date=*")] if base.exists() else []
    found = []
    for name in names:
        try:
            found.append(dt.date.fromisoformat(name))
        except ValueError:
            continue
    return min(found, default=None)


def window_history(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    """The rows the windows of `days` read (see the module): a stretch of days before the
    first, doubled until it covers every judged metric's windows or the model's first day."""
    first, last = min(days), max(days)
    reach = 2 * (model.estimation.window_days + 1)
    oldest: dt.date | None = None
    while True:
        since = first - dt.timedelta(days=reach)
        rows = _rows_between(con, paths, model.model_id, since, last)
        if _covers(model, rows, days):
            return rows
        oldest = oldest or _first_partition(paths, model.model_id)
        if oldest is None or since <= oldest:
            return rows
        reach *= 2


def judge_estimator_quality(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    today: dt.date | None = None,
) -> list[Alert]:
    """Rewrite the `estimation_quality` rows of `days`, then raise and write their alerts
    (each day's `estimator_quality.parquet` alerts file, empty when it raises none)."""
    from perf_pipeline.alerts.records import write_alerts
    from perf_pipeline.tables import estimation_quality

    if not days:
        return []
    estimation_quality.write_days(con, paths, model, days, today)
    history = window_history(con, paths, model, days)
    alerts = estimator_quality_alerts(model, history, days)
    if not model.estimation.alert:
        # Judged and logged, not alerted: the alerts file is written empty so a switch from
        # on to off leaves no alert behind.
        import dagster as dg

        logger = dg.get_dagster_logger()
        for alert in alerts:
            logger.warning(alert.message)
        write_alerts(con, paths, model.model_id, days, [], WRITER)
        return []
    write_alerts(con, paths, model.model_id, days, alerts, WRITER)
    return alerts
