"""`warehouse.duckdb`: views over the Parquet lake, so anyone can query while the pipeline writes.

The file holds views only, never data. It is rebuilt when the set of tables with data changes,
or the settings the `performance` view reads (each model's `labels.final_coverage` and
`label_delay_days`), by writing a new file and renaming it over the old one: a user's open
connection keeps reading the old file and never blocks a run (a DuckDB file has a single writer).

The `performance` view adds `status` (`estimated`, `provisional`, `final`; see
`perf_pipeline.performance_status`), computed when it is read, since a day turns final when its
label delay runs out. The settings come from the models file, read here (a few milliseconds):
a model the file does not define, or every model when the file is missing or broken, is judged
with the defaults, so the views never fail for the sake of the models file. Performance files
without the columns the status reads (not written by the pipeline) get the plain view.

Beside the partitioned public tables, the alerts' lifecycle has views of its own
(`STATE_TABLES`), each created once it has data: `incidents` (rebuilt by
`perf_pipeline.alerts.incidents`; a snooze whose day has passed reads `open`), `alert_state`
(people's decisions) and `notifications` (every delivery attempt, read live from
`alerts/deliveries.jsonl`, the ledger delivery appends to). Once `incidents` exists, the
`alerts` view takes each row's incident: `incident_id`, `last_seen_at`, `resolved_at`, and a
`status` of `open` becomes the incident's (`acknowledged`, `snoozed`, `resolved`).

The optional features' tables (`FEATURE_TABLES`: the review queue's and the release gate's) get
a view once they have data, like the lifecycle's.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.object_store import register_on
from perf_pipeline.paths import DataPaths
from perf_pipeline.performance_status import StatusSettings, settings_from_file, with_status_sql

PUBLIC_TABLES = (
    "predictions",
    "labels",
    "quarantine",
    "data_quality",
    "performance",
    "drift",
    "alerts",
    "label_lag",
    "estimation_quality",
)

# The lifecycle's views: not (table, model, day) partitions, so kept apart from PUBLIC_TABLES.
STATE_TABLES = ("incidents", "alert_state", "notifications")

# Tables of optional features (the review queue, the release gate): a view once they have data.
FEATURE_TABLES = ("review_sample", "review_labels", "review_accuracy", "gate_decisions")

# Labels are stored per arrival day; the public table keeps the latest label per prediction.
_LATEST_LABEL_SQL = """
SELECT * EXCLUDE (_rank) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY model_id, prediction_id
        ORDER BY arrival_date DESC, label_timestamp DESC NULLS LAST
    ) AS _rank
    FROM {source}
) WHERE _rank = 1
"""


def view_sql(paths: DataPaths, table: str, settings: list[StatusSettings] | None = None) -> str:
    """The query behind a view; `performance` with its `status` column when given the models'
    settings (`[]` judges every model with the defaults)."""
    if table in (*STATE_TABLES, "alerts"):
        return _lifecycle_view_sql(paths, table)
    source = read_table_sql(paths, table)
    if table == "labels":
        return _LATEST_LABEL_SQL.format(source=source)
    if table == "performance" and settings is not None:
        return with_status_sql(source, settings)
    return f"SELECT * FROM {source}"


# A snooze is for days up to `snoozed_until`; read after that day, the incident is open again.
_INCIDENTS_SQL = """
SELECT * REPLACE (
    CASE WHEN status = 'snoozed' AND snoozed_until < CAST(timezone('UTC', now()) AS DATE)
         THEN 'open' ELSE status END AS status)
FROM {source}
"""

# Each day's alert row with its incident's lifecycle (a row of `open` takes the incident's
# status; an estimated alert's verdict, `confirmed` / `not_confirmed`, stays).
_ALERTS_SQL = """
SELECT a.* REPLACE (
    CASE WHEN a.status = 'open' AND i.status IS NOT NULL THEN i.status ELSE a.status END
        AS status,
    i.incident_id AS incident_id,
    i.last_seen_at AS last_seen_at,
    i.resolved_at AS resolved_at)
FROM {alerts} AS a
LEFT JOIN ({incidents}) AS i
  ON a.model_id = i.model_id AND a.kind = i.kind AND a.metric_or_column = i.metric_or_column
 AND a.date BETWEEN i.first_date AND i.last_date
"""

# One row per delivery attempt of an alert on a channel; older ledgers lack some keys (NULL).
_NOTIFICATIONS_SQL = """
SELECT alert_id, model_id, channel, kind AS channel_kind,
       row_number() OVER (PARTITION BY alert_id, channel ORDER BY "at") AS attempt,
       status, error, reason, digest, CAST("at" AS TIMESTAMPTZ) AS "at"
FROM read_json({path}, format = 'newline_delimited', ignore_errors = true,
     columns = {{alert_id: 'VARCHAR', model_id: 'VARCHAR', channel: 'VARCHAR',
                 kind: 'VARCHAR', status: 'VARCHAR', error: 'VARCHAR', reason: 'VARCHAR',
                 digest: 'VARCHAR', "at": 'VARCHAR'}})
"""


def _lifecycle_view_sql(paths: DataPaths, table: str) -> str:
    from perf_pipeline.alerts.delivery import ledger_path
    from perf_pipeline.sql import quote_literal

    if table == "notifications":
        return _NOTIFICATIONS_SQL.format(path=quote_literal(paths.for_duckdb(ledger_path(paths))))
    source = read_table_sql(paths, table)
    if table == "alert_state":
        return f"SELECT * FROM {source}"
    if table == "incidents":
        return _INCIDENTS_SQL.format(source=source)
    if not has_files(paths, "incidents"):
        return f"SELECT * FROM {source}"
    incidents = _INCIDENTS_SQL.format(source=read_table_sql(paths, "incidents"))
    return _ALERTS_SQL.format(alerts=source, incidents=incidents)


def has_data(paths: DataPaths, table: str) -> bool:
    """Whether a public or lifecycle table has anything to show (so gets a view)."""
    if table == "notifications":
        from perf_pipeline.alerts.delivery import ledger_path

        return ledger_path(paths).exists()
    return has_files(paths, table)


def _signature(paths: DataPaths, tables: list[str], settings: list[StatusSettings]) -> str:
    judged = ";".join(f"{s.model_id}={s.final_coverage!r},{s.label_delay_days}" for s in settings)
    return f"{paths.warehouse}|{','.join(tables)}|{judged}"


def _signature_file(paths: DataPaths):
    return paths.views_db.with_name(paths.views_db.name + ".tables")


def _current_signature(paths: DataPaths) -> str | None:
    # Kept beside the views file, not inside it: a process that still has the old file open
    # would be handed its cached copy by DuckDB and never see the new signature.
    marker = _signature_file(paths)
    if not paths.views_db.exists() or not marker.exists():
        return None
    return marker.read_text(encoding="utf-8")


def _opens(paths: DataPaths) -> bool:
    """Whether a new connection can open the views file (a stray WAL can make it refuse)."""
    try:
        duckdb.connect(paths.for_duckdb(paths.views_db), read_only=True).close()
    except duckdb.Error:
        return False
    return True


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _create_view(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, table: str, settings: list[StatusSettings]
) -> None:
    try:
        con.execute(f"CREATE VIEW {table} AS {view_sql(paths, table, settings)}")
    except duckdb.BinderException:
        if table == "alerts":
            # Alert files written before the lifecycle columns: the plain rows.
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM {read_table_sql(paths, table)}")
            return
        if table != "performance":
            raise
        # Files lacking `is_estimated`/`label_coverage`: still readable, without a status.
        con.execute(f"CREATE VIEW {table} AS {view_sql(paths, table)}")


def refresh_views(paths: DataPaths) -> bool:
    """Rebuild the views file if the set of tables with data or the models' status settings
    changed, or if it no longer opens; True when rebuilt.

    The file holds nothing but views, so rebuilding it loses nothing: a user connection that
    wrote to it and was killed leaves a WAL behind, and after the next rename that WAL no longer
    matches the file and every new connection would refuse to open it. The rebuild therefore
    removes the replaced file's WAL, and a file that does not open is rebuilt rather than trusted.
    """
    tables = [t for t in (*PUBLIC_TABLES, *STATE_TABLES, *FEATURE_TABLES) if has_data(paths, t)]
    settings = settings_from_file(paths)
    signature = _signature(paths, tables, settings)
    if _current_signature(paths) == signature and _opens(paths):
        return False
    paths.views_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.views_db.with_name(f".{paths.views_db.name}.{uuid.uuid4().hex}.tmp")
    try:
        # DuckDB reads `?` in a database path as the start of options: spell it literally.
        with register_on(duckdb.connect(paths.for_duckdb(tmp))) as con:
            for table in tables:
                _create_view(con, paths, table, settings)
        os.replace(tmp, paths.views_db)
        # Whatever WAL sits beside the target belonged to the file just replaced.
        _wal(paths.views_db).unlink(missing_ok=True)
        marker_tmp = tmp.with_suffix(".tables")
        marker_tmp.write_text(signature, encoding="utf-8")
        os.replace(marker_tmp, _signature_file(paths))
    finally:
        tmp.unlink(missing_ok=True)
        _wal(tmp).unlink(missing_ok=True)
    return True
