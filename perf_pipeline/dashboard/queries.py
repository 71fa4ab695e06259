"""What the dashboard and `perf-pipeline status` read, as small aggregated frames.

Each of a model's tables is read from its Parquet files once (`stage_tables`; `read_table_sql`
with the model id, so other models' files are never opened) and every query returns per-day or
per-(day, feature) rows, never raw predictions: a year of a model is a few tens of thousands of
rows however busy it is.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.performance_status import StatusSettings, with_status_sql
from perf_pipeline.sql import quote_literal
from perf_pipeline.views import view_sql

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

DRIFT_SHARE = "drift_share"
# The columns each staged table keeps: what the queries below read, nothing more.
_STAGED_COLUMNS = {
    "performance": "date, segment_column, segment_value, metric, value, n, ci_low, ci_high, "
    "label_coverage, coalesce(is_estimated, false) AS is_estimated, model_id",
    "drift": 'date, "column", method, statistic, p_value, threshold, drifted, psi',
    "ingest_log": "date, source, rows_read, accepted, quarantined, error",
    "data_quality": "date, expectation, success, severity",
    "alerts": "date, kind, metric_or_column, value, threshold, severity, status, message",
}


@dataclass(frozen=True)
class Staged:
    """A model's tables, each read from its Parquet files once into a temporary table (a year
    is 365 files per table: scanning them once, not once per query, is most of the speed);
    `None` for a table with no files yet."""

    model: ModelConfig
    tables: dict[str, str | None]

    def __getitem__(self, table: str) -> str | None:
        return self.tables[table]


def stage_tables(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, tables=None
) -> Staged:
    staged: dict[str, str | None] = {}
    for table in tables or _STAGED_COLUMNS:
        if not has_files(paths, table, model.model_id):
            staged[table] = None
            continue
        name = f"_dashboard_{table}"
        source = read_table_sql(paths, table, model.model_id)
        if table == "alerts":
            # The view, not the files: an alert's status is its incident's (acknowledged,
            # snoozed, resolved), which the files never hold.
            source = (
                f"(SELECT * FROM ({view_sql(paths, 'alerts')}) "
                f"WHERE model_id = {quote_literal(model.model_id)})"
            )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {_STAGED_COLUMNS[table]} FROM {source}"
        )
        staged[table] = name
    return Staged(model, staged)


DATASET_COLUMN = "__dataset__"
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.html$")


def shown_metrics(con: duckdb.DuckDBPyConnection, staged: Staged) -> list:
    """The configured metrics (those with thresholds), in file order; every overall metric in
    the table when none is configured, so a model without thresholds still shows its numbers."""
    configured = [m for m in staged.model.thresholds if m != DRIFT_SHARE]
    if configured or staged["performance"] is None:
        return configured
    source = staged["performance"]
    rows = con.execute(
        f"SELECT DISTINCT metric FROM {source} WHERE segment_column = '__all__' ORDER BY metric"
    ).fetchall()
    return [r[0] for r in rows]


def _reference_sql(paths: DataPaths, model: ModelConfig) -> str:
    """`(date, metric, reference)` for every day of `series`: the reference set's value, or for
    a trailing reference the mean of the window's realized days before it (as the alerts do)."""
    if model.reference.source == "file":
        if not has_files(paths, "reference_performance", model.model_id):
            return "SELECT s.date, s.metric, NULL::DOUBLE AS reference FROM series s"
        source = read_table_sql(paths, "reference_performance", model.model_id)
        return (
            "SELECT s.date, s.metric, r.reference FROM series s LEFT JOIN ("
            f"SELECT metric, avg(value) AS reference FROM {source} "
            "WHERE segment_column = '__all__' AND NOT is_estimated AND value IS NOT NULL "
            "GROUP BY metric) r USING (metric)"
        )
    days = int(model.reference.days or 1)
    return (
        "SELECT s.date, s.metric, avg(r.value) AS reference FROM (SELECT DISTINCT date, metric "
        "FROM series) s LEFT JOIN (SELECT date, metric, value FROM series WHERE NOT is_estimated "
        "AND value IS NOT NULL) r ON r.metric = s.metric "
        f"AND r.date BETWEEN s.date - {days} AND s.date - 1 GROUP BY ALL"
    )


def metric_series(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, staged: Staged, metrics: list[str]
) -> pd.DataFrame:
    """Overall rows of `metrics`, one per (day, metric, realized/estimated), with the row's
    read-time `status` and the day's `reference` value."""
    import pandas as pd

    columns = ["date", "metric", "status", "is_estimated", "value", "ci_low", "ci_high", "n"]
    if not metrics or staged["performance"] is None:
        return pd.DataFrame(columns=[*columns, "label_coverage", "reference"])
    source = staged["performance"]
    model = staged.model
    with_status = with_status_sql(source, [StatusSettings.of(model)])
    return con.execute(
        f"""
        WITH series AS (
            SELECT date, metric, status, coalesce(is_estimated, false) AS is_estimated, value,
                   ci_low, ci_high, n, label_coverage
            FROM ({with_status}) WHERE segment_column = '__all__'
              AND list_contains(?::VARCHAR[], metric)
        ), reference AS ({_reference_sql(paths, model)})
        SELECT series.*, reference.reference FROM series
        LEFT JOIN reference USING (date, metric) ORDER BY metric, date, is_estimated
        """,
        [metrics],
    ).df()


def _staged_query(
    con: duckdb.DuckDBPyConnection, source: str | None, columns: list[str], sql: str
) -> pd.DataFrame:
    """`sql` over a staged table (`{source}` in it), or an empty frame of `columns` when the
    model has no such table yet: every row of the page still draws, empty."""
    import pandas as pd

    if source is None:
        return pd.DataFrame(columns=columns)
    return con.execute(sql.format(source=source)).df()


def label_coverage(con: duckdb.DuckDBPyConnection, staged: Staged) -> pd.DataFrame:
    """`(date, coverage)`: the share of the day's predictions labelled so far."""
    return _staged_query(
        con,
        staged["performance"],
        ["date", "coverage"],
        "SELECT date, max(label_coverage) AS coverage FROM {source} "
        "WHERE segment_column = '__all__' AND NOT coalesce(is_estimated, false) "
        "GROUP BY date ORDER BY date",
    )


def daily_volume(con: duckdb.DuckDBPyConnection, staged: Staged) -> pd.DataFrame:
    """`(date, rows_read, accepted, quarantined, quarantine_share, error)` of the prediction
    logs, from `ingest_log` (the ingest's own count of every row read)."""
    return _staged_query(
        con,
        staged["ingest_log"],
        ["date", "rows_read", "accepted", "quarantined", "quarantine_share", "error"],
        "SELECT date, sum(rows_read) AS rows_read, sum(accepted) AS accepted, "
        "sum(quarantined) AS quarantined, "
        "sum(quarantined) / NULLIF(sum(rows_read), 0) AS quarantine_share, "
        "string_agg(error, '; ') AS error "
        "FROM {source} WHERE source = 'predictions' GROUP BY date ORDER BY date",
    )


def blocked_days(con: duckdb.DuckDBPyConnection, staged: Staged) -> pd.DataFrame:
    """`(date, failed)`: days an error-severity expectation failed (the gate blocked them)."""
    return _staged_query(
        con,
        staged["data_quality"],
        ["date", "failed"],
        "SELECT date, string_agg(DISTINCT expectation, ', ' ORDER BY expectation) AS failed "
        "FROM {source} WHERE NOT success AND severity = 'error' "
        "AND NOT starts_with(expectation, 'labels_') GROUP BY date ORDER BY date",
    )


def drift_cells(con: duckdb.DuckDBPyConnection, staged: Staged) -> pd.DataFrame:
    """Every (day, column) drift row, the dataset row included."""
    return _staged_query(
        con,
        staged["drift"],
        ["date", "column", "method", "statistic", "p_value", "threshold", "drifted", "psi"],
        'SELECT date, "column", method, statistic, p_value, threshold, drifted, psi '
        'FROM {source} ORDER BY date, "column"',
    )


def model_alerts(con: duckdb.DuckDBPyConnection, staged: Staged) -> pd.DataFrame:
    """Every alert of the model, newest first."""
    return _staged_query(
        con,
        staged["alerts"],
        ["date", "kind", "metric_or_column", "value", "threshold", "severity", "status", "message"],
        "SELECT date, kind, metric_or_column, value, threshold, severity, status, message "
        "FROM {source} ORDER BY date DESC, kind, metric_or_column",
    )


def worst_segments(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    metrics: list[str],
    window_days: int = 14,
) -> pd.DataFrame:
    """Per (segment, metric), the realized value over the last `window_days` days with labels
    (weighted by each day's labelled rows) beside the overall value over the same days.

    The ranking by how much worse than overall is left to the caller, which knows each
    metric's direction."""
    import pandas as pd

    columns = ["segment_column", "segment_value", "metric", "value", "overall", "n", "first"]
    if not metrics or staged["performance"] is None:
        return pd.DataFrame(columns=[*columns, "last"])
    source = staged["performance"]
    return con.execute(
        f"""
        WITH realized AS (
            SELECT * FROM {source}
            WHERE NOT coalesce(is_estimated, false) AND value IS NOT NULL AND n > 0
              AND list_contains(?::VARCHAR[], metric)
        ), window_days AS (
            SELECT DISTINCT date FROM realized WHERE segment_column = '__all__'
            ORDER BY date DESC LIMIT {int(window_days)}
        ), recent AS (SELECT * FROM realized WHERE date IN (SELECT date FROM window_days)),
        overall AS (
            SELECT metric, sum(value * n) / sum(n) AS overall FROM recent
            WHERE segment_column = '__all__' GROUP BY metric
        )
        SELECT segment_column, segment_value, metric, sum(value * n) / sum(n) AS value,
               any_value(overall.overall) AS overall, sum(n)::BIGINT AS n,
               min(date) AS first, max(date) AS last
        FROM recent JOIN overall USING (metric)
        WHERE segment_column <> '__all__' GROUP BY ALL
        """,
        [metrics],
    ).df()


@dataclass(frozen=True)
class ReportLink:
    day: dt.date
    href: str  # relative to the model's folder


def report_links(paths: DataPaths, model: ModelConfig) -> list[ReportLink]:
    """Each day's HTML page in `reports/<model>/` (Evidently report, or a blocked day's page)."""
    folder = paths.reports / model.model_id
    if not folder.is_dir():
        return []
    links = []
    for entry in folder.iterdir():
        match = _DAY_FILE.match(entry.name)
        if match and entry.is_file():
            links.append(ReportLink(dt.date.fromisoformat(match.group(1)), entry.name))
    return sorted(links, key=lambda link: link.day)


@dataclass
class DashboardData:
    """Everything one model's page shows."""

    model: ModelConfig
    metrics: list[str]
    series: pd.DataFrame
    coverage: pd.DataFrame
    volume: pd.DataFrame
    blocked: pd.DataFrame
    drift: pd.DataFrame
    alerts: pd.DataFrame
    segments: pd.DataFrame
    reports: list[ReportLink] = field(default_factory=list)


def load_dashboard_data(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> DashboardData:
    staged = stage_tables(con, paths, model)
    metrics = shown_metrics(con, staged)
    return DashboardData(
        model=model,
        metrics=metrics,
        series=metric_series(con, paths, staged, metrics),
        coverage=label_coverage(con, staged),
        volume=daily_volume(con, staged),
        blocked=blocked_days(con, staged),
        drift=drift_cells(con, staged),
        alerts=model_alerts(con, staged),
        segments=worst_segments(con, staged, metrics),
        reports=report_links(paths, model),
    )
