"""Read landing files of any supported format into one shape: every column as text.

Reading everything as text first, and typing it afterwards in SQL, is what lets one bad value
quarantine one row instead of failing a whole file: a reader that infers types would either
reject the file or silently turn the value into null.

A file's own columns and the reader's bookkeeping (row numbers, broken rows) travel apart, in a
`TextFile`: a user column may be called anything, `__row_number` included, and must never be
mistaken for, or collide with, what the pipeline adds.

One exception, for speed and only where nothing can be lost: a Parquet column whose type already
is what the contract asks for (a float64 or integer number, a UTC or zone-less timestamp) may be
kept typed (`keep_typed`). Such a value can be absent but never unparseable, so judging it needs
no text; the text form of a rejected row is taken later from the same typed value, exactly as it
would have been read (`to_text`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from perf_pipeline.object_store import readable

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# The kinds of column `keep_typed` may name: what the column's text would be cast to.
NUMBER = "number"
TIMESTAMP = "timestamp"
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "+00:00", "Z"})
MALFORMED_JSON_LINE = "malformed_json_line"
MALFORMED_CSV_ROW = "malformed_csv_row"
# pyarrow parses a CSV file in blocks and a row must fit in one: start at 4 MiB and double on
# a row that straddles two blocks, so a huge field costs memory in proportion to the file only.
_CSV_BLOCK_BYTES = 4 << 20


class UnreadableFileError(Exception):
    """A whole file cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass
class TextFile:
    """One landing file as read.

    `columns` holds the file's own columns under their own names, every value as text.
    `row_numbers` is each row's 1-based number in the file: the line for JSON Lines; for CSV
    the record (header excluded, blank lines not counted, a quoted value spanning several lines
    still one record), as a spreadsheet numbers rows below the header; the row for Parquet.
    `broken` is, per row, why the row could not be split into columns (`malformed_json_line`,
    `malformed_csv_row`) or null; such a row has null columns and its raw text in `raw_lines`.
    """

    path: Path
    columns: pa.Table
    row_numbers: pa.Array
    broken: pa.Array
    raw_lines: pa.Array

    @property
    def num_rows(self) -> int:
        # Not `columns.num_rows`: a file of broken lines only has rows but no columns.
        return len(self.row_numbers)


def read_text_file(path: Path, keep_typed: Mapping[str, str] | None = None) -> TextFile:
    """Read one landing file; raises `UnreadableFileError` when the file cannot be used at all.

    `keep_typed` names columns (and their kind, `NUMBER` or `TIMESTAMP`) that a Parquet file may
    hand over typed when its own type already matches (`typed_or_none`); every other column, and
    every column of a text file, is text.
    """
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnreadableFileError(
            path, f"unsupported file type {path.suffix!r} (use .parquet, .csv or .jsonl)"
        )
    if fmt == "parquet":
        return _plain(path, _read_parquet(path, keep_typed or {}))
    if path.stat().st_size == 0:
        return _plain(path, pa.table({}))  # an empty text file: no rows, nothing lost
    return _read_csv(path) if fmt == "csv" else _read_jsonl(path)


def _plain(path: Path, table: pa.Table) -> TextFile:
    n = table.num_rows
    return TextFile(
        path,
        table,
        pa.array(range(1, n + 1), pa.int64()),
        pa.nulls(n, pa.string()),
        pa.nulls(n, pa.string()),
    )


def is_text(column: pa.ChunkedArray | pa.Array) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def typed_or_none(column: pa.ChunkedArray, kind: str) -> pa.ChunkedArray | None:
    """`column` itself when its type gives exactly the values its text would be cast to.

    float64 and integers (widened to int64) are numbers as DuckDB parses their text. A timestamp
    must be UTC or zone-less (cast to UTC like its text), and a nanosecond one whole
    microseconds: DuckDB cuts the text of a finer one but rounds the typed value.
    """
    kind_type = column.type
    if kind == NUMBER:
        if pa.types.is_float64(kind_type) or pa.types.is_int64(kind_type):
            return column
        if pa.types.is_integer(kind_type) and not pa.types.is_uint64(kind_type):
            return column.cast(pa.int64())
        return None
    if kind != TIMESTAMP or not pa.types.is_timestamp(kind_type):
        return None
    if kind_type.tz is not None and kind_type.tz not in _UTC_NAMES:
        return None
    if kind_type.unit == "ns":
        try:
            column.cast(pa.timestamp("us", kind_type.tz))  # safe: raises on a sub-µs value
        except pa.ArrowInvalid:
            return None
    return column


def to_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as the readers give it when it is read as text; also how a typed column kept by
    `keep_typed` gets its text back, so a rejected row's record is the same either way."""
    if is_text(column):
        return column.cast(pa.string())
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Nested values (lists of item ids for ranking models) travel as JSON text.
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.chunked_array([pa.array(values, pa.string())])


def _check_names(path: Path, names: list[str]) -> None:
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise UnreadableFileError(path, f"repeated column names {repeated}")


def _read_parquet(path: Path, keep_typed: Mapping[str, str]) -> pa.Table:
    if path.stat().st_size == 0:
        # Parquet has a footer even with no rows: zero bytes is a file cut off, not an empty one.
        raise UnreadableFileError(path, "not a readable Parquet file (the file is empty: 0 bytes)")
    try:
        table = pq.read_table(readable(path))
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(path, f"not a readable Parquet file ({exc})") from exc
    _check_names(path, table.column_names)
    columns = {}
    for name in table.column_names:
        kind = keep_typed.get(name)
        typed = typed_or_none(table[name], kind) if kind else None
        columns[name] = to_text(table[name]) if typed is None else typed
    return pa.table(columns)


def _csv_header(path: Path) -> list[str]:
    """The first non-blank record, read the way pyarrow will (a UTF-8 BOM is not a character)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for record in csv.reader(handle):
                if record:
                    return record
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            path, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except csv.Error as exc:
        raise UnreadableFileError(path, f"unreadable CSV header ({exc})") from exc
    return []


def _read_csv(path: Path) -> TextFile:
    header = _csv_header(path)
    if not header:
        return _plain(path, pa.table({}))
    _check_names(path, header)
    bad: list[pacsv.InvalidRow] = []
    table = _parse_csv(path, header, bad, use_threads=True)
    if bad:
        # Only a single-threaded parse tells where a malformed row was: rare, so paid only then.
        bad.clear()
        table = _parse_csv(path, header, bad, use_threads=False)
    return _with_malformed_rows(path, table, bad)


def _parse_csv(
    path: Path, header: list[str], bad: list[pacsv.InvalidRow], use_threads: bool
) -> pa.Table:
    def skip(row: pacsv.InvalidRow) -> str:
        bad.append(row)
        return "skip"

    block = _CSV_BLOCK_BYTES
    while True:
        try:
            return pacsv.read_csv(
                readable(path),
                read_options=pacsv.ReadOptions(
                    encoding="utf8", block_size=block, use_threads=use_threads
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()),
                    # Only an empty cell is missing: "NA", "NULL" or "NaN" are values to judge,
                    # exactly as the same text in a JSON Lines or Parquet file.
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            if "straddl" in str(exc) and block <= path.stat().st_size:
                bad.clear()
                block *= 2
                continue
            raise UnreadableFileError(path, f"not a readable CSV file ({exc})") from exc


def _with_malformed_rows(path: Path, table: pa.Table, bad: list[pacsv.InvalidRow]) -> TextFile:
    """Put each malformed row back at its place, as a row of nulls with its raw text."""
    total = table.num_rows + len(bad)
    # pyarrow numbers records from the header (1), so a data record's number is one less.
    bad_numbers = [
        row.number - 1 if row.number else table.num_rows + i + 1 for i, row in enumerate(bad)
    ]
    taken = set(bad_numbers)
    good_numbers = [n for n in range(1, total + 1) if n not in taken][: table.num_rows]
    nulls = pa.table({c: pa.nulls(len(bad), pa.string()) for c in table.column_names})
    numbers = pa.array(good_numbers + bad_numbers, pa.int64())
    order = pc.sort_indices(numbers)
    return TextFile(
        path,
        pa.concat_tables([table, nulls]).take(order),
        numbers.take(order),
        pa.array([None] * table.num_rows + [MALFORMED_CSV_ROW] * len(bad), pa.string()).take(order),
        pa.array([None] * table.num_rows + [row.text for row in bad], pa.string()).take(order),
    )


def _read_jsonl(path: Path) -> TextFile:
    """One JSON object a line; a broken line becomes a row of its own, kept as raw text."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            path, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    rows: list[dict[str, str | None]] = []
    line_numbers: list[int] = []
    broken: list[str | None] = []
    columns: dict[str, None] = {}
    # Only \n ends a line (a \r before it is dropped): other line breaks are data in a value.
    for line_number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        line_numbers.append(line_number)
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except (ValueError, RecursionError):
            rows.append({})
            broken.append(line)
            continue
        row = {k: _json_text(v) for k, v in record.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
        broken.append(None)
    table = pa.table({name: pa.array([r.get(name) for r in rows], pa.string()) for name in columns})
    return TextFile(
        path,
        table,
        pa.array(line_numbers, pa.int64()),
        pa.array([None if b is None else MALFORMED_JSON_LINE for b in broken], pa.string()),
        pa.array(broken, pa.string()),
    )


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)
