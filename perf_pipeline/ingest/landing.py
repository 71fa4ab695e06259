"""Gather a range of landing days into one DuckDB table, recording what each day contained.

Days are independent: a file that cannot be used fails its own day (with the file and the problem
named) and never the other days of a backfill.

The columns the pipeline adds (row number, file, day...) are named with the `__ingest@` prefix.
They never meet a file's own columns, which the readers keep apart (a file may well have a column
called `__row_number`); only the model's configured columns are carried over, and a configured
column may not start with the prefix.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from perf_pipeline.ingest.listing import SkippedPath, list_folder, misnamed_entries
from perf_pipeline.ingest.readers import (
    TextFile,
    UnreadableFileError,
    is_text,
    read_text_file,
    to_text,
)

INTERNAL_PREFIX = "__ingest@"
ROW_NUMBER = f"{INTERNAL_PREFIX}row_number"
SOURCE_FILE = f"{INTERNAL_PREFIX}source_file"
RAW_LINE = f"{INTERNAL_PREFIX}raw_line"
BROKEN = f"{INTERNAL_PREFIX}broken"
DAY = f"{INTERNAL_PREFIX}day"
FILE_INDEX = f"{INTERNAL_PREFIX}file_index"
# Each row's place in the gathered table (0, 1, ...: landing order), a one-column join key.
ORDINAL = f"{INTERNAL_PREFIX}ordinal"

log = logging.getLogger(__name__)


@dataclass
class DayLoad:
    """What one landing day held, before any row was judged."""

    day: dt.date
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    error: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    skipped: list[SkippedPath] = field(default_factory=list)


def _check_columns(file: TextFile, required: list[str]) -> None:
    present = file.columns.column_names
    if not present:
        return  # an empty file, or only broken rows (quarantined one by one): nothing missing
    missing = [c for c in required if c not in present]
    if missing:
        raise UnreadableFileError(
            file.path, f"missing required column(s) {missing}; the file has {present}"
        )


def _skipped_paths(
    folder_for: Callable[[dt.date], Path], days: list[dt.date], root: Path
) -> dict[dt.date | None, list[SkippedPath]]:
    """Misnamed entries of the model folder, by the day they were meant for (None: unknown)."""
    if not days:
        return {}
    found: dict[dt.date | None, list[SkippedPath]] = {}
    for day, skipped in misnamed_entries(folder_for(days[0]).parent, root):
        found.setdefault(day, []).append(skipped)
    return found


def _load_day(
    load: DayLoad,
    folder: Path,
    root: Path,
    columns: tuple[list[str], list[str]],
    keep_typed: Mapping[str, str],
) -> list[pa.Table]:
    required, known = columns
    listing = list_folder(folder, root)
    load.skipped.extend(listing.skipped)
    tables: list[pa.Table] = []
    try:
        for index, path in enumerate(listing.files):
            load.files.append(str(path))
            file = read_text_file(path, keep_typed)
            _check_columns(file, required)
            extra = [c for c in file.columns.column_names if c not in known]
            load.extra_columns.extend(c for c in extra if c not in load.extra_columns)
            tables.append(_conform(file, known, load.day, index))
    except UnreadableFileError as exc:
        load.error = str(exc)
        return []
    load.rows_read = sum(t.num_rows for t in tables)
    return tables


def load_days(
    con: duckdb.DuckDBPyConnection,
    folder_for: Callable[[dt.date], Path],
    days: Iterable[dt.date],
    required: list[str],
    known: list[str],
    table_name: str,
    *,
    landing_root: Path,
) -> dict[dt.date, DayLoad]:
    """Register `table_name` with the known columns (as text) of every readable day.

    `landing_root` is where link checks start: no link below it is followed (see `listing`).
    """
    loads, table = gather_days(folder_for, days, (required, known), landing_root=landing_root)
    con.register(table_name, table)
    return loads


def gather_days(
    folder_for: Callable[[dt.date], Path],
    days: Iterable[dt.date],
    columns: tuple[list[str], list[str]],
    *,
    landing_root: Path,
    keep_typed: Mapping[str, str] | None = None,
) -> tuple[dict[dt.date, DayLoad], pa.Table]:
    """What each day held, and one table of the (required, known) `columns` of every readable
    day, in landing order, each row numbered by its position in the table (`ORDINAL`).

    A column of `keep_typed` stays typed when every file of the run gave it the same type
    (see `readers.typed_or_none`); otherwise it is text, as it would have been without it.
    """
    known = columns[1]
    reserved = [c for c in known if c.startswith(INTERNAL_PREFIX)]
    if reserved:
        raise ValueError(f"column names starting with {INTERNAL_PREFIX!r} are reserved: {reserved}")
    days = list(days)
    misnamed = _skipped_paths(folder_for, days, landing_root)
    loads: dict[dt.date, DayLoad] = {}
    tables: list[pa.Table] = []
    for day in days:
        load = DayLoad(day, skipped=[*misnamed.get(None, []), *misnamed.get(day, [])])
        loads[day] = load
        tables.extend(_load_day(load, folder_for(day), landing_root, columns, keep_typed or {}))
        for skipped in load.skipped:
            log.warning("%s: %s, skipped: %s", day, skipped.path, skipped.why)
    return loads, _combine(tables, known)


def _combine(tables: list[pa.Table], known: list[str]) -> pa.Table:
    """One table in landing order, numbered; a column typed in some files only becomes text."""
    types = {
        c: {t.schema.field(c).type for t in tables if t[c].null_count < t.num_rows} for c in known
    }
    typed = {c: kinds.pop() for c, kinds in types.items() if len(kinds) == 1}
    schema = _schema({c: t for c, t in typed.items() if t != pa.string()}, known)
    conformed = [_retyped(t, schema) for t in tables]
    combined = pa.concat_tables(conformed) if conformed else schema.empty_table()
    ordinal = pa.array(np.arange(combined.num_rows, dtype=np.int64))
    return combined.append_column(pa.field(ORDINAL, pa.int64()), ordinal)


def _retyped(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` under `schema`: a typed column the run could not keep typed becomes text."""
    columns = []
    for target in schema:
        column = table[target.name]
        if column.type != target.type:
            column = to_text(column) if target.type == pa.string() else column.cast(target.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _schema(typed: Mapping[str, pa.DataType], known: list[str]) -> pa.Schema:
    fields = [pa.field(c, typed.get(c, pa.string())) for c in known]
    fields += [pa.field(c, pa.string()) for c in [RAW_LINE, BROKEN, SOURCE_FILE]]
    fields += [
        pa.field(ROW_NUMBER, pa.int64()),
        pa.field(DAY, pa.date32()),
        pa.field(FILE_INDEX, pa.int32()),
    ]
    return pa.schema(fields)


def _conform(file: TextFile, known: list[str], day: dt.date, file_index: int) -> pa.Table:
    """Same columns in the same order for every file: absent optional columns become null."""
    n = file.num_rows
    present = file.columns.column_names
    columns = {c: file.columns[c] if c in present else pa.nulls(n, pa.string()) for c in known}
    columns[RAW_LINE] = file.raw_lines
    columns[BROKEN] = file.broken
    columns[SOURCE_FILE] = pa.repeat(pa.scalar(str(file.path), pa.string()), n)
    columns[ROW_NUMBER] = file.row_numbers
    columns[DAY] = pa.repeat(pa.scalar(day, pa.date32()), n)
    columns[FILE_INDEX] = pa.repeat(pa.scalar(file_index, pa.int32()), n)
    typed = {c: v.type for c, v in columns.items() if c in known and not is_text(v)}
    return pa.table(columns, schema=_schema(typed, known))
