"""`alert_state`: what people decided about incidents (acknowledge, snooze, resolve).

One row per incident, its latest decision, in `warehouse/alert_state/model=<id>/data.parquet`,
written atomically (a temporary file renamed over the old one, as every lake file) under a lock,
so two people acting at once never lose each other's decision. It is the only table a person
writes; the pipeline rebuilds `incidents` from it and the alerts, and re-running a day never
touches it, so a decision survives every re-run.

A decision is keyed by the incident's id at the time it was taken (the alert id of its first
breach day). If an earlier day joins the incident later (days run out of order), the incident's
id changes but the decision still follows it: `lifecycle` matches it to the incident that holds
that alert id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from perf_pipeline.alerts.lifecycle import (
    ACKNOWLEDGED,
    RESOLVED,
    SNOOZED,
    Decision,
    Incident,
)
from perf_pipeline.file_lock import exclusive_lock
from perf_pipeline.lake import has_files, read_table_sql, write_single
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import ALERT_STATE
from perf_pipeline.sql import quote_identifier

TABLE = "alert_state"
DECISIONS = (ACKNOWLEDGED, SNOOZED, RESOLVED)


class UnknownAlertError(LookupError):
    """No incident or alert has this id (or id prefix)."""


class AmbiguousAlertError(LookupError):
    """Several incidents match this id prefix."""


def _lock_path(paths: DataPaths) -> Path:
    return paths.alerts_log.with_name(".state.lock")


@contextmanager
def exclusive_state(paths: DataPaths) -> Iterator[None]:
    """Hold the data root's decision lock for a read-modify-write of `alert_state`."""
    with exclusive_lock(_lock_path(paths)):
        yield


def _read_rows(con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str) -> list[dict]:
    if not has_files(paths, TABLE, model_id):
        return []
    frame = con.execute(f"SELECT * FROM {read_table_sql(paths, TABLE, model_id)}").df()
    return frame.to_dict(orient="records")


def _date(value: object) -> dt.date | None:
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def _stamp(value: object) -> dt.datetime | None:
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def read_decisions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str
) -> list[Decision]:
    """The model's decisions, for `lifecycle`."""
    return [
        Decision(
            incident_id=r["incident_id"],
            status=r["status"],
            snoozed_until=_date(r["snoozed_until"]),
            resolved_through=_date(r["resolved_through"]),
            note=None if r["note"] is None or r["note"] != r["note"] else r["note"],
            updated_at=_stamp(r["updated_at"]),
        )
        for r in _read_rows(con, paths, model_id)
    ]


def _write_rows(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, rows: list[dict]
) -> None:
    import pandas as pd

    con.register("_alert_state", pd.DataFrame(rows, columns=list(ALERT_STATE)))
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS {t}) AS {quote_identifier(c)}"
        for c, t in ALERT_STATE.items()
    )
    try:
        write_single(
            con, paths, TABLE, model_id, f"SELECT {casts} FROM _alert_state ORDER BY incident_id"
        )
    finally:
        con.unregister("_alert_state")


def record_decision(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    incident: Incident,
    status: str,
    note: str | None = None,
    snoozed_until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Make `status` the incident's decision, replacing any earlier one on it.

    A resolution covers the breaches recorded so far (`resolved_through` = its latest breach
    day): a breach on a later day opens a new incident and is notified.
    """
    if status not in DECISIONS:
        raise ValueError(f"decision {status!r} is not one of {', '.join(DECISIONS)}")
    with exclusive_state(paths):
        kept = [
            r
            for r in _read_rows(con, paths, incident.model_id)
            if r["incident_id"] not in incident.member_ids
        ]
        kept.append(
            {
                "incident_id": incident.incident_id,
                "model_id": incident.model_id,
                "kind": incident.kind,
                "metric_or_column": incident.metric_or_column,
                "status": status,
                "snoozed_until": snoozed_until if status == SNOOZED else None,
                "resolved_through": incident.last_date if status == RESOLVED else None,
                "note": note,
                "updated_at": now or dt.datetime.now(dt.UTC),
            }
        )
        _write_rows(con, paths, incident.model_id, kept)


def find_incident(incidents: list[Incident], wanted: str) -> Incident:
    """The incident an id names: its own id, or the id of any of its alerts, or a unique
    prefix of either (like a git commit)."""
    wanted = wanted.strip().lower()
    if not wanted:
        raise UnknownAlertError("an empty alert id")
    exact = [i for i in incidents if wanted in i.member_ids]
    if exact:
        return exact[0]
    matches = {
        i.incident_id: i for i in incidents if any(a.startswith(wanted) for a in i.member_ids)
    }
    if not matches:
        raise UnknownAlertError(f"no alert or incident has the id {wanted!r}")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        raise AmbiguousAlertError(
            f"the id prefix {wanted!r} matches {len(matches)} incidents ({shown}); give more of it"
        )
    return next(iter(matches.values()))
