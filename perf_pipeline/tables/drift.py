"""The `drift` table for a range of days: each day's inputs and outputs against the reference.

The reference and the days stay in Parquet behind DuckDB views; the drift SQL reads them in
streaming passes and spills to a temp directory under the data root, so neither side has to fit
in memory as a pandas frame. A file reference is profiled once for the whole range.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift import (
    OUTPUT_COLUMNS,
    compute_drift_sql,
    reference_profile_sql,
)
from perf_pipeline.lake import (
    day_files,
    has_files,
    read_table_sql,
    write_frame_partitions,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import DRIFT
from perf_pipeline.tables.serving import production_rows_sql

_REFERENCE_VIEW = "_drift_reference"
_CURRENT_VIEW = "_drift_current"


def compute_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    """Drift rows of `days`; a file reference is profiled once for the whole range.

    A trailing reference (`reference: {source: trailing, days: N}`) is, for day D, the
    predictions of D-N .. D-1 (never D itself), labelled `trailing_<N>d`; each day has its own
    window, so it is profiled per day. The window holds whatever of those days exist, so the
    first days of a model are compared with fewer than N days. A day whose window has no
    prediction rows at all (no partitions yet, or only the empty ones a failed ingest leaves)
    gets no drift rows, as a day does when a file reference is missing: a comparison with
    nothing would only yield rows of NULLs under a reference that does not exist.
    """
    frames: list[pd.DataFrame] = []
    if model.reference.source == "file":
        if not has_files(paths, "reference", model.model_id):
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
        _view(con, _REFERENCE_VIEW, read_table_sql(paths, "reference", model.model_id))
        with reference_profile_sql(con, model, _REFERENCE_VIEW) as profile:
            for day in days:
                if _day_view(con, paths, model, [day]):
                    frames.append(
                        compute_drift_sql(
                            con, model, _REFERENCE_VIEW, _CURRENT_VIEW, "file", profile
                        )
                    )
    else:
        window_days = model.reference.days or 1
        kind = f"trailing_{window_days}d"
        for day in days:
            window = [day - dt.timedelta(days=i) for i in range(window_days, 0, -1)]
            files = day_files(paths, "predictions", model.model_id, window)
            if not files or not _day_view(con, paths, model, [day]):
                continue
            _view(con, _REFERENCE_VIEW, production_rows_sql(files, model))
            if not _has_rows(con, _REFERENCE_VIEW):
                continue
            frames.append(compute_drift_sql(con, model, _REFERENCE_VIEW, _CURRENT_VIEW, kind))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)


def _has_rows(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a view has any row; stops at the first, so a long window is not counted."""
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {name})").fetchall()[0][0])


def _view(con: duckdb.DuckDBPyConnection, name: str, source: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source}")


def _day_view(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> bool:
    """Point the current view at production's rows of the days' prediction files (no shadow
    version's); False when there are no files."""
    files = day_files(paths, "predictions", model.model_id, days)
    if not files:
        return False
    _view(con, _CURRENT_VIEW, production_rows_sql(files, model))
    return True


def write_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    frame: pd.DataFrame,
) -> dict[dt.date, int]:
    return write_frame_partitions(con, paths, "drift", model.model_id, frame, DRIFT, days)
