"""Plain-text summaries of the warehouse for the terminal: what is there, what is wrong."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from perf_pipeline.dashboard.summary import (
    TREND_DAYS,
    ModelSummary,
    Point,
    model_summary,
    sparkline,
)
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
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
    reports = sorted(paths.reports.glob("*/????-??-??.html")) if paths.reports.exists() else []
    print(f"\nReports: {len(reports)} daily HTML files under {paths.reports}")
    for model_dir in sorted(
        p for p in paths.reports.glob("*") if p.is_dir() and not p.name.startswith("_")
    ):
        latest = sorted(model_dir.glob("????-??-??.html"))
        if latest:
            print(f"  {model_dir.name}: latest {latest[-1]}")
    if (paths.reports / "index.html").exists():
        print(f"Dashboards: {paths.reports / 'index.html'} (every model, one page each)")
    print(f"Notifications: {paths.alerts_log}")


OPEN_ALERTS_SHOWN = 10
MESSAGE_WIDTH = 100
_STATUS_HEADERS = ("metric", "final", "provisional", "estimated", "reference", "bound", "state")


def print_status(paths: DataPaths, models: list[str] | None) -> int:
    """One screen per model; exit 2 naming the models file when a requested model is not in
    it, 1 when nothing has run yet."""
    from perf_pipeline.config import load_models

    declared = load_models(paths.models_file)
    unknown = [m for m in models or [] if m not in declared]
    if unknown:
        print(
            f"unknown model(s) {', '.join(map(repr, unknown))}: {paths.models_file} declares "
            f"{', '.join(sorted(declared)) or 'none'}",
            file=sys.stderr,
        )
        return 2
    if not has_files(paths, "performance") and not has_files(paths, "ingest_log"):
        print(f"No results yet under {paths.root}: run `perf-pipeline demo` or a backfill.")
        return 1
    selected = [declared[m] for m in models] if models else list(declared.values())
    with PipelineStorage(data_root=str(paths.root)).get_connection() as con:
        for model in sorted(selected, key=lambda m: m.model_id):
            print("\n".join(model_status_lines(model_summary(con, paths, model), paths)) + "\n")
    print(
        "final: labels are in; provisional: still moving; estimated: from the scores. ALERT: "
        "the latest final value, or a later estimate, is outside its bound."
    )
    return 0


def _point(point: Point | None) -> str:
    return "-" if point is None else f"{point.value:.4f} {point.day}"


def _aligned(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _metric_rows(summary: ModelSummary) -> list[list[str]]:
    header = [*_STATUS_HEADERS, f"last {TREND_DAYS} days"]
    rows = [
        [
            m.metric,
            _point(m.final),
            _point(m.provisional),
            _point(m.estimated),
            "-" if m.reference is None else f"{m.reference:.4f}",
            m.bound.describe(),
            m.state,
            sparkline(m.trend),
        ]
        for m in summary.metrics
    ]
    return [header, *rows]


def _volume_line(summary: ModelSummary) -> str:
    volume = summary.latest_volume
    if not volume:
        return "  no prediction logs ingested yet"
    read, accepted, quarantined = (
        int(volume[k] or 0) for k in ("rows_read", "accepted", "quarantined")
    )
    share = f" ({quarantined / read:.1%})" if read else ""
    day = str(volume["date"])[:10]
    return f"  {day}: {read:,} rows read, {accepted:,} accepted, {quarantined:,} quarantined{share}"


def _alert_lines(summary: ModelSummary) -> list[str]:
    alerts = summary.open_alerts
    lines = [f"  open alerts: {len(alerts):,}"]
    for row in alerts.head(OPEN_ALERTS_SHOWN).itertuples():
        day = str(row.date)[:10]
        message = str(row.message).removeprefix(f"{summary.model_id} {day}: ")
        text = f"{day} {row.kind} {row.metric_or_column}: {message}"
        lines.append(
            "    " + (text if len(text) <= MESSAGE_WIDTH else text[: MESSAGE_WIDTH - 3] + "...")
        )
    more = len(alerts) - OPEN_ALERTS_SHOWN
    if more > 0:
        lines.append(f"    ... {more:,} more (the dashboard lists them; or query the alerts table)")
    return lines


def model_status_lines(summary: ModelSummary, paths: DataPaths) -> list[str]:
    """The model's screen: state, latest metrics, the latest day's volume, open alerts."""
    latest = summary.latest_day or "no data yet"
    lines = [f"{summary.model_id}  {summary.state}  latest day {latest}"]
    if summary.metrics:
        lines += _aligned(_metric_rows(summary))
    else:
        lines.append("  no performance rows yet")
    lines.append(_volume_line(summary))
    lines += _alert_lines(summary)
    dashboard = paths.reports / summary.model_id / "index.html"
    if dashboard.exists():
        lines.append(f"  dashboard: {dashboard}")
    return lines
