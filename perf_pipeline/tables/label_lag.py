"""`label_lag`: how fast a model's labels arrive, one row per model and prediction day.

Users read it to set `label_delay_days` and `labels.final_coverage`, and to see when a day's
realized numbers will stop moving. Per prediction day:

- `predictions`: its accepted predictions; `labelled`: those with a label so far.
- The delay of a labelled prediction is `arrival day of its first label - prediction day`, in
  whole days (0 = labelled the same day). A later correction does not move it: the question is
  when the label first became available.
- `coverage_after_1d/7d/14d/30d`: the share of the day's predictions labelled within 1, 7, 14,
  30 days (delay <= k). NULL until arrival day `date + k` is observed, i.e. until the labels lake
  holds an arrival day at least that late (`observed_through`): a window still open is not a
  coverage yet.
- `median_delay_days`, `p90_delay_days`: percentiles of the delays of the labelled predictions,
  linearly interpolated between the two nearest delays (DuckDB's `quantile_cont`, NumPy's
  default `numpy.percentile(..., method="linear")`); NULL without any label.
- `never_labelled_share`: the share with no label so far.

The labels asset recomputes the prediction days its arrival days touched (the prediction days of
the labels it wrote, and the days whose coverage windows close on those arrival days), so the
table follows the labels without reading the whole lake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import (
    day_files,
    has_files,
    read_files_sql,
    read_table_sql,
    write_frame_partitions,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_literal
from perf_pipeline.tables.serving import production_rows_sql

TABLE = "label_lag"
WINDOWS = (1, 7, 14, 30)
SCHEMA = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "predictions": "BIGINT",
    "labelled": "BIGINT",
    "observed_through": "DATE",
    **{f"coverage_after_{k}d": "DOUBLE" for k in WINDOWS},
    "median_delay_days": "DOUBLE",
    "p90_delay_days": "DOUBLE",
    "never_labelled_share": "DOUBLE",
}
_DELAYS = "_label_delays"


def _date_sql(day: dt.date | None) -> str:
    return "NULL::DATE" if day is None else f"DATE {quote_literal(day.isoformat())}"


def observed_through(paths: DataPaths, model_id: str) -> dt.date | None:
    """The latest arrival day the labels lake holds (a day without labels has an empty file)."""
    base = paths.partition_dir("labels", model_id, None)
    days = []
    for folder in base.glob("date=*") if base.exists() else []:
        try:
            day = dt.date.fromisoformat(folder.name.removeprefix("date="))
        except ValueError:
            continue
        if any(folder.glob("*.parquet")):
            days.append(day)
    return max(days, default=None)


def affected_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, arrivals: list[dt.date]
) -> list[dt.date]:
    """Prediction days whose row the arrival days `arrivals` change: the prediction days of
    their labels, and the days A - k whose k-day window closes on an arrival day A."""
    days = {a - dt.timedelta(days=k) for a in arrivals for k in (0, *WINDOWS)}
    files = day_files(paths, "labels", model.model_id, arrivals)
    if files:
        query = f"SELECT DISTINCT prediction_date FROM {read_files_sql(files)}"
        days |= {d for (d,) in con.execute(query).fetchall() if d is not None}
    return sorted(
        d
        for d in days
        if d >= model.start_date and day_files(paths, "predictions", model.model_id, [d])
    )


def _stage_delays(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """`_label_delays(date, delay)`: one row per accepted production prediction of `days`
    (a shadow version's rows are not what users wait labels for), delay NULL when unlabelled.
    Labels are matched on (prediction id, prediction day)."""
    predictions = production_rows_sql(day_files(paths, "predictions", model.model_id, days), model)
    listed = ", ".join(_date_sql(d) for d in days)
    if has_files(paths, "labels", model.model_id):
        from perf_pipeline.tables.wanted_ids import ids_filter

        # Only the days' ids can match: the rest of the labels history is skipped unread.
        wanted = ids_filter(con, f"SELECT prediction_id FROM {predictions}", "_label_lag_ids")
        firsts = (
            "SELECT prediction_id, prediction_date, min(date) AS first_arrival "
            f"FROM {read_table_sql(paths, 'labels', model.model_id)} "
            f"WHERE prediction_date IN ({listed}) AND {wanted} GROUP BY ALL"
        )
    else:
        firsts = "SELECT NULL::VARCHAR AS prediction_id, NULL::DATE AS prediction_date, "
        firsts += "NULL::DATE AS first_arrival WHERE false"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_DELAYS} AS
        SELECT p.date, date_diff('day', p.date, f.first_arrival) AS delay
        FROM (SELECT date, prediction_id FROM {predictions}) AS p
        LEFT JOIN ({firsts}) AS f
          ON f.prediction_id = p.prediction_id AND f.prediction_date = p.date"""
    )


def _coverage_sql(k: int, observed: str, pooled: bool) -> str:
    window_closed = f"date + {k} <= {observed}"
    if pooled:  # over the days whose window has closed
        return f"count_if(delay <= {k} AND {window_closed}) / nullif(count_if({window_closed}), 0)"
    return f"CASE WHEN {window_closed} THEN count_if(delay <= {k}) / count(*) END"


def _profile_sql(model_id: str, observed: dt.date | None) -> str:
    coverage = ", ".join(
        f"{_coverage_sql(k, _date_sql(observed), False)} AS coverage_after_{k}d" for k in WINDOWS
    )
    return f"""SELECT {quote_literal(model_id)} AS model_id, date, count(*) AS predictions,
        count(delay) AS labelled, {_date_sql(observed)} AS observed_through, {coverage},
        quantile_cont(delay, 0.5) AS median_delay_days,
        quantile_cont(delay, 0.9) AS p90_delay_days,
        1 - count(delay) / count(*) AS never_labelled_share
    FROM {_DELAYS} GROUP BY date ORDER BY date"""


def _summary(con: duckdb.DuckDBPyConnection, observed: dt.date | None) -> dict[str, float]:
    """The recomputed days pooled: what the labels asset shows at a glance."""
    row = con.execute(
        f"SELECT quantile_cont(delay, 0.5), quantile_cont(delay, 0.9), "
        f"{_coverage_sql(7, _date_sql(observed), True)} FROM {_DELAYS}"
    ).fetchone()
    names = ("label_median_delay_days", "label_p90_delay_days", "label_coverage_after_7d")
    return {name: float(v) for name, v in zip(names, row or (), strict=False) if v is not None}


def write_label_lag(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    arrivals: Iterable[dt.date],
) -> dict[str, float | int]:
    """Recompute and write the `label_lag` rows of the prediction days that the arrival days
    `arrivals` affect; returns summary numbers over those days (empty without any)."""
    days = affected_days(con, paths, model, sorted(set(arrivals)))
    if not days:
        return {}
    observed = observed_through(paths, model.model_id)
    _stage_delays(con, paths, model, days)
    frame = con.execute(_profile_sql(model.model_id, observed)).df()
    write_frame_partitions(con, paths, TABLE, model.model_id, frame, SCHEMA, days)
    return {"label_lag_days": len(days), **_summary(con, observed)}
