"""Plain-text summaries of the warehouse for the terminal: what is there, what is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.performance_status import settings_from_file
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.sql import quote_literal
from perf_pipeline.views import PUBLIC_TABLES, view_sql

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


def _print_frame(frame, indent: str = "  ") -> None:
    if frame.empty:
        print(f"{indent}(none)")
        return
    for line in frame.to_string(index=False).splitlines():
        print(indent + line)


def print_summary(paths: DataPaths) -> None:
    with PipelineStorage(data_root=str(paths.root)).get_connection() as con:
        _print_summary(con, paths)


def _print_summary(con: DuckDBPyConnection, paths: DataPaths) -> None:
    print(f"\nTables (query them in {paths.views_db}):")
    for table in PUBLIC_TABLES:
        rows = (
            con.execute(f"SELECT count(*) FROM ({view_sql(paths, table)})").fetchall()[0][0]
            if has_files(paths, table)
            else 0
        )
        print(f"  {table:<19} {rows:>10,} rows")
    print("\nAlerts fired:")
    if has_files(paths, "alerts"):
        _print_frame(
            con.execute(
                f"SELECT model_id, kind, metric_or_column AS subject, count(*) AS days, "
                f"min(date) AS first, max(date) AS last FROM {read_table_sql(paths, 'alerts')} "
                "GROUP BY ALL ORDER BY model_id, first"
            ).df()
        )
    else:
        print("  (none)")
    reports = sorted(paths.reports.glob("*/*.html")) if paths.reports.exists() else []
    print(f"\nReports: {len(reports)} Evidently HTML files under {paths.reports}")
    for model_dir in sorted(
        p for p in paths.reports.glob("*") if p.is_dir() and not p.name.startswith("_")
    ):
        latest = sorted(model_dir.glob("*.html"))
        if latest:
            print(f"  {model_dir.name}: latest {latest[-1]}")
    print(f"Notifications: {paths.alerts_log}")


def print_status(paths: DataPaths, models: list[str] | None) -> int:
    if not has_files(paths, "performance"):
        print(f"No results yet under {paths.root}: run `perf-pipeline demo` or a backfill.")
        return 1
    with PipelineStorage(data_root=str(paths.root)).get_connection() as con:
        _print_status(con, paths, models)
    return 0


def _print_status(con: DuckDBPyConnection, paths: DataPaths, models: list[str] | None) -> None:
    where = ""
    if models:
        where = "AND model_id IN (" + ", ".join(quote_literal(m) for m in models) + ")"
    print(
        "Latest overall metrics (status: final = labels in, provisional = still moving, "
        "estimated = from scores, before labels):"
    )
    performance = view_sql(paths, "performance", settings_from_file(paths))
    _print_frame(
        con.execute(
            f"""
            WITH overall AS (
                SELECT * FROM ({performance})
                WHERE segment_column = '__all__' AND value IS NOT NULL {where}
            ), latest AS (
                SELECT model_id, metric, is_estimated, max(date) AS date FROM overall GROUP BY ALL
            )
            SELECT o.model_id, o.metric, o.status, o.date, round(o.value, 4) AS value, o.n,
                   round(o.label_coverage, 3) AS coverage
            FROM overall o JOIN latest USING (model_id, metric, is_estimated, date)
            ORDER BY o.model_id, o.metric, o.is_estimated
            """
        ).df()
    )
    print("\nOpen alerts (latest 20):")
    if has_files(paths, "alerts"):
        _print_frame(
            con.execute(
                f"SELECT date, model_id, kind, metric_or_column AS subject, message "
                f"FROM {read_table_sql(paths, 'alerts')} WHERE status = 'open' {where} "
                "ORDER BY date DESC, model_id LIMIT 20"
            ).df()
        )
    else:
        print("  (none)")
