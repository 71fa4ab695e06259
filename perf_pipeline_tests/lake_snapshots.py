"""Every table of a data root as sorted frames, to compare two ways of running the same days.

Read straight from the Parquet lake through DuckDB (no views, no Dagster), sorted on every
column, so two runs that wrote the same rows compare equal whatever their order or file layout.
"""

from __future__ import annotations

import pandas as pd
import pandas.testing as pdt

from perf_pipeline.lake import connect, has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.views import PUBLIC_TABLES

SNAPSHOT_TABLES = (*PUBLIC_TABLES, "ingest_log", "reference", "reference_performance")


def _relative(frame: pd.DataFrame, root: str) -> pd.DataFrame:
    """File names (`source_file`, the ingest log's files) relative to the data root, so two
    roots holding the same landing zone compare equal."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda v: v.replace(root, "<root>") if isinstance(v, str) else v
            )
    return frame


def snapshot(paths: DataPaths) -> dict[str, pd.DataFrame]:
    """Each table with files, sorted on all its columns, paths relative to the root."""
    con = connect()
    root = str(paths.root)
    try:
        return {
            table: _relative(
                con.execute(f"SELECT * FROM {read_table_sql(paths, table)} ORDER BY ALL").df(),
                root,
            )
            for table in SNAPSHOT_TABLES
            if has_files(paths, table)
        }
    finally:
        con.close()


def assert_same_tables(expected: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]) -> None:
    """Same tables, same rows (no duplicate, none missing), same values; floats to 1e-9
    relative, since DuckDB's multi-threaded sums may add the same numbers in another order."""
    assert sorted(got) == sorted(expected)
    for table, frame in expected.items():
        pdt.assert_frame_equal(got[table], frame, obj=table, check_exact=False, rtol=1e-9)
