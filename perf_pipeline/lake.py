"""The Parquet lake: one file set per (table, model, date), each file written atomically.

A partition directory may hold several files, one per writer (for example `quarantine` holds the
rows rejected by the predictions ingest and by the labels ingest). Each file is written to a
temporary file and committed over the old one (a rename on a local disk, one PUT on object
storage: `perf_pipeline.object_store`), so a crashed run never leaves half a file and a re-run
replaces instead of duplicating.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.object_store import commit, register_on, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier, quote_literal

if TYPE_CHECKING:
    import pandas as pd


def connect(
    memory_limit: str | None = None, temp_directory: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection pinned to UTC, so day boundaries never depend on the host.

    With a `temp_directory`, work beyond `memory_limit` spills there instead of failing. When the
    data root is object storage, `s3://` paths are read through its file system.
    """
    con = register_on(duckdb.connect(":memory:"))
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    if temp_directory:
        con.execute(f"SET temp_directory = {quote_literal(temp_directory)}")
    return con


def _atomic_copy(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, query: str, target: Path
) -> None:
    """COPY to a staged local file, then commit it over `target` (rename, or one S3 PUT)."""
    if not paths.is_remote:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(target)
    # A remote root stages outside the data root, so DuckDB is given that local path as is.
    spelled = str(tmp) if paths.is_remote else paths.for_duckdb(tmp)
    try:
        con.execute(
            f"COPY ({query}) TO {quote_literal(spelled)} (FORMAT parquet, COMPRESSION zstd)"
        )
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_partitions(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    table: str,
    model_id: str,
    relation: str,
    days: Iterable[dt.date],
    file_name: str = "data.parquet",
) -> dict[dt.date, int]:
    """Write `relation` (which has a `date` column) as one file per day; returns rows per day.

    Every day in `days` gets a file, an empty one when the relation has no rows for it: an empty
    file is how a re-run erases what an earlier run wrote for a day that now has nothing.
    """
    per_day = dict(con.execute(f"SELECT date, count(*) FROM {relation} GROUP BY date").fetchall())
    counts: dict[dt.date, int] = {}
    for day in days:
        query = f"SELECT * FROM {relation} WHERE date = DATE {quote_literal(day.isoformat())}"
        _atomic_copy(con, paths, query, paths.partition_dir(table, model_id, day) / file_name)
        counts[day] = per_day.get(day, 0)
    return counts


def write_single(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, table: str, model_id: str, query: str
) -> None:
    """Write an unpartitioned per-model table (the reference, its profile)."""
    _atomic_copy(con, paths, query, paths.partition_dir(table, model_id, None) / "data.parquet")


def table_glob(
    paths: DataPaths, table: str, model_id: str | None = None, pattern: str = "*"
) -> str:
    model_part = f"model={model_id}" if model_id else "model=*"
    return paths.for_duckdb(paths.table_dir(table) / model_part / "**" / f"{pattern}.parquet")


def has_files(paths: DataPaths, table: str, model_id: str | None = None) -> bool:
    base = paths.table_dir(table)
    if model_id:
        base = base / f"model={model_id}"
    return base.exists() and any(base.rglob("*.parquet"))


def read_table_sql(
    paths: DataPaths, table: str, model_id: str | None = None, pattern: str = "*"
) -> str:
    """A FROM-clause expression over a table's files; callers check `has_files` first."""
    glob = quote_literal(table_glob(paths, table, model_id, pattern))
    return f"read_parquet({glob}, union_by_name = true, hive_partitioning = false)"


def day_files(
    paths: DataPaths,
    table: str,
    model_id: str,
    days: Iterable[dt.date],
    file_name: str | None = None,
) -> list[str]:
    """Existing files of a table for the given days (missing days are simply absent); with
    `file_name`, only that writer's file of each day."""
    files: list[str] = []
    for day in days:
        folder = paths.partition_dir(table, model_id, day)
        if folder.exists():
            matches = folder.glob(file_name or "*.parquet")
            files.extend(paths.for_duckdb(p) for p in sorted(matches) if not p.name.startswith("."))
    return files


def read_files_sql(files: list[str]) -> str:
    listed = ", ".join(quote_literal(f) for f in files)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def write_frame_partitions(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    table: str,
    model_id: str,
    frame: pd.DataFrame,
    schema: dict[str, str],
    days: Iterable[dt.date],
    file_name: str = "data.parquet",
) -> dict[dt.date, int]:
    """`write_partitions` for a pandas frame, cast to the table's declared column types."""
    staged = f"_staged_{table}"
    con.register(staged, frame.reindex(columns=list(schema)))
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS {t}) AS {quote_identifier(c)}" for c, t in schema.items()
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {staged}_typed AS SELECT {casts} FROM {staged}")
    con.unregister(staged)
    return write_partitions(con, paths, table, model_id, f"{staged}_typed", days, file_name)
