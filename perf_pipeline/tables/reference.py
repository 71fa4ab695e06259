"""The reference (baseline) of a model: its validation set, or a trailing window of production.

Stored once per model, typed like the predictions, so drift and data-quality checks compare a day
with the same columns and types they see in production.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.ingest.landing import DayLoad
from perf_pipeline.ingest.listing import landing_files
from perf_pipeline.ingest.readers import (
    NUMBER,
    UnreadableFileError,
    read_text_file,
    to_text,
)
from perf_pipeline.ingest.rules import canonical_class
from perf_pipeline.lake import day_files, has_files, read_table_sql, write_single
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.tables.serving import production_rows_sql


def _typed(model: ModelConfig, present: set[str]) -> str:
    parts = []
    for col in model.features.numerical:
        parts.append(f"TRY_CAST({q(col)} AS DOUBLE) AS {q(col)}")
    for col in model.input_columns:
        if col not in model.features.numerical:
            parts.append(f"nullif(trim({q(col)}), '') AS {q(col)}")
    value = "TRY_CAST({c} AS DOUBLE)" if model.task is Task.REGRESSION else canonical_class("{c}")
    for col in ("prediction", "label"):
        if col in present:
            parts.append(f"{value.format(c=q(col))} AS {col}")
        else:
            # Only a binary reference may lack `prediction`: stored NULL, as in `predictions`.
            parts.append(f"CAST(NULL AS VARCHAR) AS {col}")
    parts += [f"TRY_CAST({q(c)} AS DOUBLE) AS {q(c)}" for c in model.score_columns if c in present]
    return ", ".join(parts)


def _required_columns(model: ModelConfig) -> list[str]:
    """A binary classifier's reference may leave out `prediction` (its scores then decide, as in
    a log without it); every other task's predictions are what is being measured."""
    logged = [] if model.task is Task.BINARY_CLASSIFICATION else ["prediction"]
    return [*model.input_columns, *logged, "label"]


def _check_reference_columns(model: ModelConfig, path: Path, present: set[str]) -> None:
    missing = [c for c in _required_columns(model) if c not in present]
    if missing:
        raise UnreadableFileError(path, f"missing required column(s) {missing}")
    if model.task is Task.BINARY_CLASSIFICATION and not {"prediction", "score"} & present:
        raise UnreadableFileError(
            path, "a binary reference needs 'prediction' or 'score' to know the predicted class"
        )


def materialize_reference(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> DayLoad:
    """Read `reference/model=<id>/*` and store it typed; returns what was read.

    The files stay Arrow columns from the reader to DuckDB: numbers a Parquet file already
    holds as numbers are kept so (their text would only be parsed back), the rest is text. A
    pandas frame of text in between held one Python string per cell: 2,000,000 rows of 20
    columns took 4 GiB and 21 s, and a 10,000,000-row reference did not fit in 23 GiB.
    """
    folder = paths.landing_reference(model.model_id)
    load = DayLoad(dt.date(1970, 1, 1))
    files = landing_files(folder, paths.landing)
    if not files:
        raise UnreadableFileError(
            folder, "no reference files (the model's reference.source is 'file')"
        )
    numbers = dict.fromkeys([*model.features.numerical, *model.score_columns], NUMBER)
    tables = []
    for path in files:
        load.files.append(str(path))
        table = read_text_file(path, keep_typed=numbers).columns
        _check_reference_columns(model, path, set(table.column_names))
        tables.append(table.select([c for c in table.column_names if not c.startswith("__")]))
    raw_reference = _combined(tables)
    load.rows_read = raw_reference.num_rows
    con.register("raw_reference", raw_reference)
    try:
        write_single(
            con,
            paths,
            "reference",
            model.model_id,
            f"SELECT {_typed(model, set(raw_reference.column_names))} FROM raw_reference",
        )
    finally:
        con.unregister("raw_reference")
    return load


def _combined(tables: list[pa.Table]) -> pa.Table:
    """The files' rows one after the other, under the union of their columns (absent: null)."""
    schema = _common_schema(tables)
    conformed = []
    for table in tables:
        columns = []
        for field in schema:
            if field.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, field.type))
                continue
            column = table[field.name]
            if column.type != field.type:
                column = to_text(column) if field.type == pa.string() else column.cast(field.type)
            columns.append(column)
        conformed.append(pa.Table.from_arrays(columns, schema=schema))
    return pa.concat_tables(conformed)


def _common_schema(tables: list[pa.Table]) -> pa.Schema:
    """Each column's type where every file with values in it agrees; text where they differ
    (a number typed in one file and written as text in another)."""
    names = list(dict.fromkeys(name for table in tables for name in table.column_names))
    fields = []
    for name in names:
        kinds = {
            table.schema.field(name).type
            for table in tables
            if name in table.column_names and table[name].null_count < table.num_rows
        }
        fields.append(pa.field(name, kinds.pop() if len(kinds) == 1 else pa.string()))
    return pa.schema(fields)


def reference_frame(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, day: dt.date | None = None
) -> pd.DataFrame | None:
    """The rows a day is compared with: the stored file, or production's rows of the trailing
    window before `day`."""
    if model.reference.source == "file":
        if not has_files(paths, "reference", model.model_id):
            return None
        return con.execute(
            f"SELECT * FROM {read_table_sql(paths, 'reference', model.model_id)}"
        ).df()
    if day is None:
        return None
    window = [day - dt.timedelta(days=i) for i in range(model.reference.days or 1, 0, -1)]
    files = day_files(paths, "predictions", model.model_id, window)
    if not files:
        return None
    return con.execute(f"SELECT * FROM {production_rows_sql(files, model)}").df()
