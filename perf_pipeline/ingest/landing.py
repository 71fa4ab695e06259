"""Gather a range of landing days into one DuckDB table, recording what each day contained.

Days are independent: a file that cannot be used fails its own day (with the file and the problem
named) and never the other days of a backfill.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from perf_pipeline.ingest.readers import (
    RAW_LINE,
    ROW_NUMBER,
    SOURCE_FILE,
    UnreadableFileError,
    landing_files,
    read_as_text,
)

DAY = "__day"
FILE_INDEX = "__file_index"
_BOOKKEEPING = (RAW_LINE, SOURCE_FILE, ROW_NUMBER)


@dataclass
class DayLoad:
    """What one landing day held, before any row was judged."""

    day: dt.date
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    error: str | None = None
    extra_columns: list[str] = field(default_factory=list)


def _check_columns(path: Path, table: pa.Table, required: list[str]) -> None:
    present = set(table.column_names)
    if table.num_rows == 0 and present <= set(_BOOKKEEPING):
        return  # an empty file: nothing to judge, nothing lost
    missing = [c for c in required if c not in present]
    if missing:
        found = [c for c in table.column_names if c not in _BOOKKEEPING]
        raise UnreadableFileError(
            path, f"missing required column(s) {missing}; the file has {found}"
        )


def load_days(
    con: duckdb.DuckDBPyConnection,
    folder_for: Callable[[dt.date], Path],
    days: Iterable[dt.date],
    required: list[str],
    known: list[str],
    table_name: str,
) -> dict[dt.date, DayLoad]:
    """Register `table_name` with the known columns (as text) of every readable day."""
    loads: dict[dt.date, DayLoad] = {}
    tables: list[pa.Table] = []
    for day in days:
        load = DayLoad(day)
        loads[day] = load
        day_tables: list[pa.Table] = []
        try:
            for index, path in enumerate(landing_files(folder_for(day))):
                load.files.append(str(path))
                table = read_as_text(path)
                _check_columns(path, table, required)
                extra = [c for c in table.column_names if c not in known and c not in _BOOKKEEPING]
                load.extra_columns.extend(c for c in extra if c not in load.extra_columns)
                day_tables.append(_conform(table, known, day, index))
        except UnreadableFileError as exc:
            load.error = str(exc)
            continue
        load.rows_read = sum(t.num_rows for t in day_tables)
        tables.extend(day_tables)
    schema = _schema(known)
    combined = pa.concat_tables(tables) if tables else schema.empty_table()
    con.register(table_name, combined)
    return loads


def _schema(known: list[str]) -> pa.Schema:
    fields = [pa.field(c, pa.string()) for c in [*known, RAW_LINE, SOURCE_FILE]]
    fields += [
        pa.field(ROW_NUMBER, pa.int64()),
        pa.field(DAY, pa.date32()),
        pa.field(FILE_INDEX, pa.int32()),
    ]
    return pa.schema(fields)


def _conform(table: pa.Table, known: list[str], day: dt.date, file_index: int) -> pa.Table:
    """Same columns in the same order for every file: absent optional columns become null."""
    n = table.num_rows
    columns = {
        c: table[c] if c in table.column_names else pa.nulls(n, pa.string())
        for c in [*known, RAW_LINE, SOURCE_FILE]
    }
    columns[ROW_NUMBER] = table[ROW_NUMBER]
    columns[DAY] = pa.array([day] * n, pa.date32())
    columns[FILE_INDEX] = pa.array([file_index] * n, pa.int32())
    return pa.table(columns, schema=_schema(known))
