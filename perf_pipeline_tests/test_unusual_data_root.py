"""A data root is data too: any character in its path must read exactly its own files.

DuckDB expands `*`, `?` and `[...]` in every path it reads, even in an explicit file list, so a
root such as `/srv/fraud*` would also read `/srv/fraud_old`. These tests put a decoy beside such
roots that every wildcard reading would pick up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from perf_pipeline.lake import connect, day_files, read_files_sql, read_table_sql, write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.views import refresh_views

DAY = dt.date(2026, 9, 1)
ROOT_NAMES = [
    "fraud*",
    "fraud[*]",
    "[fraud]",
    "fraud,eu",
    "fraud {a,b}",
    "frä'ud é",
]


def _write(paths: DataPaths, value: int) -> None:
    con = connect()
    con.execute(f"CREATE OR REPLACE TEMP TABLE t AS SELECT DATE '{DAY}' AS date, {value} AS x")
    write_partitions(con, paths, "predictions", "m", "t", [DAY])


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_a_root_with_wildcard_characters_reads_only_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    paths = DataPaths(tmp_path / name)
    for decoy in ("fraud_old", "fraud", "fraud2026", "f", "fraud eu", "fXud", "frä'ud éé"):
        if decoy != name:
            _write(DataPaths(tmp_path / decoy), 999)
    _write(paths, 1)

    con = duckdb.connect()
    files = day_files(paths, "predictions", "m", [DAY])
    assert con.execute(f"SELECT list(x) FROM {read_files_sql(files)}").fetchall() == [([1],)]
    whole = read_table_sql(paths, "predictions")
    assert con.execute(f"SELECT list(x) FROM {whole}").fetchall() == [([1],)]

    refresh_views(paths)
    with duckdb.connect(paths.for_duckdb(paths.views_db), read_only=True) as views:
        assert views.execute("SELECT list(x) FROM predictions").fetchall() == [([1],)]
    assert (paths.root / "warehouse" / "predictions" / "model=m").is_dir()


def test_a_plain_root_is_used_as_it_is(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "plain root é")
    assert paths.duckdb_root == paths.root


@pytest.mark.parametrize(("name", "shown"), [("fr?ud", "'?'"), ("fr\\ud", "'\\\\'")])
def test_a_root_duckdb_cannot_open_is_refused_with_the_reason(
    tmp_path: Path, name: str, shown: str
) -> None:
    """DuckDB reads `?` in a database path as the start of options and `\\` as a separator,
    even through a link: no views file could ever be opened there."""
    with pytest.raises(ValueError, match="DuckDB cannot open a database file") as caught:
        _write(DataPaths(tmp_path / name), 1)
    assert name in str(caught.value) and shown in str(caught.value)
