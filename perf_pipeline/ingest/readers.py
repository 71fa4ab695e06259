"""Read landing files of any supported format into one shape: every column as text.

Reading everything as text first, and typing it afterwards in SQL, is what lets one bad value
quarantine one row instead of failing a whole file: a reader that infers types would either
reject the file or silently turn the value into null. Each row keeps its 1-based row number in
its file, so a quarantined row can be traced back to the exact line someone has to fix.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SOURCE_FILE = "__source_file"
ROW_NUMBER = "__row_number"
RAW_LINE = "__raw_line"

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class UnreadableFileError(Exception):
    """A whole file cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def landing_files(folder: Path) -> list[Path]:
    """Data files of one landing folder, in name order; hidden and `_`-marker files are skipped."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def read_as_text(path: Path) -> pa.Table:
    """All columns as strings plus `__source_file` and `__row_number` (and `__raw_line`)."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnreadableFileError(
            path, f"unsupported file type {path.suffix!r} (use .parquet, .csv or .jsonl)"
        )
    if path.stat().st_size == 0:
        table = pa.table({})
    elif fmt == "parquet":
        table = _read_parquet(path)
    elif fmt == "csv":
        table = _read_csv(path)
    else:
        table = _read_jsonl(path)
    n = table.num_rows
    if RAW_LINE not in table.column_names:
        table = table.append_column(RAW_LINE, pa.nulls(n, pa.string()))
    table = table.append_column(SOURCE_FILE, pa.array([str(path)] * n, pa.string()))
    if ROW_NUMBER not in table.column_names:
        table = table.append_column(ROW_NUMBER, pa.array(range(1, n + 1), pa.int64()))
    return table


def _to_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Nested values (lists of item ids for ranking models) travel as JSON text.
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.chunked_array([pa.array(values, pa.string())])


def _all_text(table: pa.Table) -> pa.Table:
    return pa.table({name: _to_text(table[name]) for name in table.column_names})


def _read_parquet(path: Path) -> pa.Table:
    try:
        return _all_text(pq.read_table(path))
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(path, f"not a readable Parquet file ({exc})") from exc


def _read_csv(path: Path) -> pa.Table:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            path, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    if not header:
        return pa.table({})
    if len(set(header)) != len(header):
        raise UnreadableFileError(path, f"repeated column names in the header: {header}")
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8"),
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
        raise UnreadableFileError(path, f"not a readable CSV file ({exc})") from exc


def _read_jsonl(path: Path) -> pa.Table:
    """One JSON object a line; a broken line becomes a row of its own, kept as raw text."""
    rows: list[dict[str, str | None]] = []
    line_numbers: list[int] = []
    columns: dict[str, None] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            path, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line_numbers.append(line_number)
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            rows.append({RAW_LINE: line})
            continue
        row = {k: _json_text(v) for k, v in record.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
    names = [*columns, RAW_LINE]
    table = pa.table({name: pa.array([r.get(name) for r in rows], pa.string()) for name in names})
    # Blank lines hold no row, but a row's number stays the line number someone has to fix.
    return table.append_column(ROW_NUMBER, pa.array(line_numbers, pa.int64()))


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
