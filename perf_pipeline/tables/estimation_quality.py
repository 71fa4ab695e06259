"""`estimation_quality`: how far each estimate was from the realized value, once that is final.

An estimate is a forecast of a number the labels give later. When a day's realized metrics are
final (`perf_pipeline.performance_status`), each overall metric that has both an estimate and a
realized value gets one row:

- `estimated`, `ci_low`, `ci_high`: the estimate and its 95 % sampling-error interval;
- `realized`: the realized value on the labelled rows;
- `error` = estimated - realized, `abs_error` its size;
- `inside_interval`: whether `ci_low <= realized <= ci_high` (NULL when the estimate has no
  interval);
- `n_estimated`: the rows the estimate read (all the day's); `n_labelled`: the rows the realized
  value read.

Only final days have rows: a provisional realized value still moves, and an error measured
against it would be the labels' noise, not the estimator's. The rows of a day are recomputed
whenever the alerts stage judges the day (a late label recomputes the day and judges it again),
and a day judged when it is not final, or no longer has both values, gets an empty partition,
so the table never keeps a row its `performance` no longer supports.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from perf_pipeline.config.model import ModelConfig
from perf_pipeline.lake import (
    day_files,
    has_files,
    read_files_sql,
    read_table_sql,
    write_frame_partitions,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.performance_status import FINAL, StatusSettings, with_status_sql
from perf_pipeline.sql import quote_literal

TABLE = "estimation_quality"
OVERALL = "__all__"
SCHEMA = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "segment_column": "VARCHAR",
    "segment_value": "VARCHAR",
    "metric": "VARCHAR",
    "estimated": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "realized": "DOUBLE",
    "error": "DOUBLE",
    "abs_error": "DOUBLE",
    "inside_interval": "BOOLEAN",
    "n_estimated": "BIGINT",
    "n_labelled": "BIGINT",
}


def _pairs_sql(with_status: str, model_id: str) -> str:
    """Overall estimated and final realized rows of the same day and metric, side by side."""
    overall = f"segment_column = {quote_literal(OVERALL)} AND value IS NOT NULL"
    return f"""
    WITH judged AS ({with_status}),
    estimated AS (
        SELECT date, metric, value, n, ci_low, ci_high FROM judged
        WHERE {overall} AND coalesce(is_estimated, false)
    ),
    realized AS (
        SELECT date, metric, value, n FROM judged
        WHERE {overall} AND NOT coalesce(is_estimated, false)
          AND status = {quote_literal(FINAL)}
    )
    SELECT {quote_literal(model_id)} AS model_id, e.date,
        {quote_literal(OVERALL)} AS segment_column, {quote_literal(OVERALL)} AS segment_value,
        e.metric, e.value AS estimated, e.ci_low, e.ci_high, r.value AS realized,
        e.value - r.value AS error, abs(e.value - r.value) AS abs_error,
        CASE WHEN e.ci_low IS NOT NULL AND e.ci_high IS NOT NULL
             THEN r.value BETWEEN e.ci_low AND e.ci_high END AS inside_interval,
        e.n AS n_estimated, r.n AS n_labelled
    FROM estimated AS e JOIN realized AS r USING (date, metric)
    ORDER BY e.date, e.metric"""


def compute_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    today: dt.date | None = None,
) -> pd.DataFrame:
    """The rows of the final days among `days`, from their `performance` partitions, with the
    status as of `today` (default: the UTC date now)."""
    files = day_files(paths, "performance", model.model_id, days)
    if not files:
        return pd.DataFrame(columns=list(SCHEMA))
    today = today or dt.datetime.now(dt.UTC).date()
    judged = with_status_sql(read_files_sql(files), [StatusSettings.of(model)], today)
    frame = con.execute(_pairs_sql(judged, model.model_id)).df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def write_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    today: dt.date | None = None,
) -> dict[dt.date, int]:
    """Recompute and replace the partitions of `days` (empty for a day that is not final);
    returns the rows written per day."""
    frame = compute_days(con, paths, model, days, today)
    return write_frame_partitions(con, paths, TABLE, model.model_id, frame, SCHEMA, days)


def read_through(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, last_day: dt.date
) -> pd.DataFrame:
    """Every row of the model up to `last_day`, oldest first: the history a window reads."""
    if not has_files(paths, TABLE, model_id):
        return pd.DataFrame(columns=list(SCHEMA))
    frame = con.execute(
        f"SELECT * FROM {read_table_sql(paths, TABLE, model_id)} WHERE date <= ? "
        "ORDER BY metric, date",
        [last_day],
    ).df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame
