"""The views file survives a user's killed read-write connection (a stray WAL).

`warehouse.duckdb` holds views only and is replaced by a rename whenever the set of tables
changes. A user connection that wrote to it and was killed leaves `warehouse.duckdb.wal`
behind; after the next rename that WAL no longer matches the file, and DuckDB refuses every new
connection until someone deletes it by hand.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb

from perf_pipeline.lake import connect, write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.views import refresh_views

DAY = dt.date(2024, 3, 1)

# Writes to the views file and dies before closing, as `kill -9` of a notebook would.
KILLED_WRITER = """
import os, sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE scratch AS SELECT range AS r FROM range(1000)")
con.execute("INSERT INTO scratch SELECT * FROM range(10)")
os._exit(9)
"""


def _write_table(paths: DataPaths, table: str) -> None:
    con = connect()
    con.execute("CREATE OR REPLACE TEMP TABLE t AS SELECT DATE '2024-03-01' AS date, 1 AS x")
    write_partitions(con, paths, table, "m", "t", [DAY])


def _kill_a_writer(paths: DataPaths) -> None:
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(paths.views_db)], check=False)
    assert paths.views_db.with_name("warehouse.duckdb.wal").exists()


def _count(paths: DataPaths, table: str) -> int:
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def test_a_rebuild_after_a_killed_writer_leaves_a_file_that_opens(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions")
    assert refresh_views(paths) is True
    _kill_a_writer(paths)

    _write_table(paths, "alerts")
    assert refresh_views(paths) is True

    assert _count(paths, "predictions") == 1
    assert _count(paths, "alerts") == 1
    assert not paths.views_db.with_name("warehouse.duckdb.wal").exists()


def test_a_views_file_that_no_longer_opens_is_rebuilt(tmp_path: Path) -> None:
    """Even when the set of tables is unchanged, a file DuckDB refuses is not trusted."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions")
    assert refresh_views(paths) is True
    # A WAL that belongs to another database file: what a rename under a dead writer leaves.
    other = tmp_path / "other.duckdb"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(other)], check=False)
    (tmp_path / "other.duckdb.wal").rename(paths.views_db.with_name("warehouse.duckdb.wal"))

    assert refresh_views(paths) is True
    assert _count(paths, "predictions") == 1
    assert refresh_views(paths) is False
