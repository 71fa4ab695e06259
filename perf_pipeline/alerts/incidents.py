"""The `incidents` table: the lifecycle of every model's alerts, rebuilt from the lake.

`perf_pipeline.alerts.lifecycle` groups a model's alert rows into incidents; this module feeds
it (the `alerts` rows, the judged days of `perf_pipeline.alerts.evidence`, people's decisions
from `alert_state`) and writes the result to `warehouse/incidents/model=<id>/data.parquet`
atomically, for the `incidents` and `alerts` views. It is rebuilt, never edited: whatever order
days were run in, the table says what the lake says now. Only `resolved_at` (the time a
recovery was first noticed) is carried over from the table's previous version, as an alert's
`first_seen_at` is.

It is rebuilt by the alerts sensor when alert-producing partitions land, by the notifier before
it decides what to send, and by every `perf-pipeline alerts` command.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable

import duckdb

from perf_pipeline.alerts.lifecycle import (
    BY_HAND,
    BY_RECOVERY,
    Breach,
    Decision,
    Incident,
    incidents_of,
)
from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import has_files, read_table_sql, write_single
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import INCIDENTS
from perf_pipeline.sql import quote_identifier

TABLE = "incidents"
DEFAULT_RESOLVE_AFTER_DAYS = 2


def alert_models(paths: DataPaths) -> list[str]:
    """Models with an `alerts` folder in the lake."""
    base = paths.table_dir("alerts")
    if not base.exists():
        return []
    return sorted(p.name.removeprefix("model=") for p in base.glob("model=*") if p.is_dir())


def _configured(paths: DataPaths) -> dict[str, ModelConfig]:
    """The models file's models; none when it cannot be read (the lifecycle then keeps every
    incident open rather than failing a notifier)."""
    from perf_pipeline.config import read_models_file

    try:
        models, _ = read_models_file(paths.models_file)
    except Exception:  # a half-edited models file must not stop notifications
        return {}
    return models


def _breaches(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str
) -> dict[tuple[str, str, str], list[Breach]]:
    if not has_files(paths, "alerts", model_id):
        return {}
    rows = con.execute(
        "SELECT kind, metric_or_column, alert_id, date, severity, first_seen_at, message "
        f"FROM {read_table_sql(paths, 'alerts', model_id)} ORDER BY date, alert_id"
    ).fetchall()
    found: dict[tuple[str, str, str], list[Breach]] = defaultdict(list)
    for kind, subject, *breach in rows:
        found[(model_id, kind, subject)].append(Breach(*breach))
    return found


def _previous_resolutions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str
) -> dict[str, dt.datetime]:
    if not has_files(paths, TABLE, model_id):
        return {}
    rows = con.execute(
        f"SELECT incident_id, resolved_at FROM {read_table_sql(paths, TABLE, model_id)} "
        "WHERE resolved_at IS NOT NULL"
    ).fetchall()
    return dict(rows)


def model_incidents(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    model: ModelConfig | None,
    decisions: list[Decision],
) -> list[Incident]:
    """Every incident of one model, as the lake and people's decisions say now."""
    from perf_pipeline.alerts.evidence import Evidence, judged_evidence

    breaches = _breaches(con, paths, model_id)
    if not breaches:
        return []
    since = min(b.date for found in breaches.values() for b in found)
    evidence = judged_evidence(con, paths, model, since) if model else Evidence()
    after = model.lifecycle.resolve_after_days if model else DEFAULT_RESOLVE_AFTER_DAYS
    incidents: list[Incident] = []
    for subject, found in sorted(breaches.items()):
        judged = evidence.judged_days(subject[1], subject[2]) if model else set()
        incidents += incidents_of(subject, found, judged, after, decisions)
    return incidents


def _unchanged(value: object) -> object:
    return value


def incident_record(
    incident: Incident, status: str, as_value: Callable[[object], object] = _unchanged
) -> dict[str, object]:
    """One incident as both the `incidents` table and `perf-pipeline alerts list` show it, so
    the two cannot drift apart. They differ only in `status` (the stored one, or the one read
    today) and in how days and times are written (`as_value`: kept for the table, ISO text for
    JSON). `alert_ids` is for the listing: the table keeps only its own columns."""
    decision = incident.decision
    return {
        "incident_id": incident.incident_id,
        "model_id": incident.model_id,
        "kind": incident.kind,
        "metric_or_column": incident.metric_or_column,
        "severity": incident.severity,
        "status": status,
        "first_date": as_value(incident.first_date),
        "last_date": as_value(incident.last_date),
        "breach_days": len(incident.members),
        "first_seen_at": as_value(incident.first_seen_at),
        "last_seen_at": as_value(incident.last_seen_at),
        "resolved_on": as_value(incident.resolved_on),
        "resolved_by": incident.resolved_by,
        "snoozed_until": as_value(incident.snoozed_until),
        "note": decision.note if decision else None,
        "alert_ids": [m.alert_id for m in incident.members],
        "message": incident.members[-1].message,
    }


def _resolved_at(
    incident: Incident, previous: dict[str, dt.datetime], now: dt.datetime
) -> dt.datetime | None:
    """By hand: when the person resolved it. By recovery: when a rebuild first saw it
    resolved (kept from the table's previous version, so a re-run does not move it)."""
    if incident.resolved_by == BY_HAND and incident.decision is not None:
        return incident.decision.updated_at or now
    if incident.resolved_by == BY_RECOVERY:
        return previous.get(incident.incident_id) or now
    return None


def _write(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    incidents: list[Incident],
    now: dt.datetime,
) -> None:
    import pandas as pd

    previous = _previous_resolutions(con, paths, model_id)
    rows = [
        incident_record(incident, incident.status)
        | {"resolved_at": _resolved_at(incident, previous, now)}
        for incident in incidents
    ]
    frame = pd.DataFrame(rows, columns=list(INCIDENTS))
    con.register("_incidents", frame)
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS {t}) AS {quote_identifier(c)}" for c, t in INCIDENTS.items()
    )
    query = f"SELECT {casts} FROM _incidents ORDER BY first_date, kind, metric_or_column"
    try:
        write_single(con, paths, TABLE, model_id, query)
    finally:
        con.unregister("_incidents")


def refresh_incidents(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_ids: list[str] | None = None,
    now: dt.datetime | None = None,
) -> list[Incident]:
    """Rebuild the `incidents` table of these models (default: every model with alerts);
    returns their incidents."""
    from perf_pipeline.alerts.state import read_decisions

    models = _configured(paths)
    now = now or dt.datetime.now(dt.UTC)
    found: list[Incident] = []
    for model_id in model_ids if model_ids is not None else alert_models(paths):
        decisions = read_decisions(con, paths, model_id)
        incidents = model_incidents(con, paths, model_id, models.get(model_id), decisions)
        if incidents or has_files(paths, TABLE, model_id):
            _write(con, paths, model_id, incidents, now)
        found += incidents
    from perf_pipeline.views import refresh_views

    refresh_views(paths)  # the `incidents` view appears with the table's first file
    return found


def by_alert_id(incidents: list[Incident]) -> dict[str, Incident]:
    """Each alert id's incident."""
    return {member.alert_id: i for i in incidents for member in i.members}
