"""`warehouse.duckdb`: views over the Parquet lake, so anyone can query while the pipeline writes.

The file holds views only, never data. It is rebuilt when the set of tables with data changes,
by writing a new file and renaming it over the old one: a user's open connection keeps reading
the old file and never blocks a run (a DuckDB file has a single writer).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths

PUBLIC_TABLES = (
    "predictions",
    "labels",
    "quarantine",
    "data_quality",
    "performance",
    "drift",
    "alerts",
)

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


def view_sql(paths: DataPaths, table: str) -> str:
    source = read_table_sql(paths, table)
    if table == "labels":
        return _LATEST_LABEL_SQL.format(source=source)
    return f"SELECT * FROM {source}"


def _signature(paths: DataPaths, tables: list[str]) -> str:
    return f"{paths.warehouse}|{','.join(tables)}"


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


def refresh_views(paths: DataPaths) -> bool:
    """Rebuild the views file if the set of tables with data changed, or if it no longer opens;
    True when rebuilt.

    The file holds nothing but views, so rebuilding it loses nothing: a user connection that
    wrote to it and was killed leaves a WAL behind, and after the next rename that WAL no longer
    matches the file and every new connection would refuse to open it. The rebuild therefore
    removes the replaced file's WAL, and a file that does not open is rebuilt rather than trusted.
    """
    tables = [t for t in PUBLIC_TABLES if has_files(paths, t)]
    signature = _signature(paths, tables)
    if _current_signature(paths) == signature and _opens(paths):
        return False
    paths.views_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.views_db.with_name(f".{paths.views_db.name}.{uuid.uuid4().hex}.tmp")
    try:
        # DuckDB reads `?` in a database path as the start of options: spell it literally.
        with duckdb.connect(paths.for_duckdb(tmp)) as con:
            for table in tables:
                con.execute(f"CREATE VIEW {table} AS {view_sql(paths, table)}")
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
