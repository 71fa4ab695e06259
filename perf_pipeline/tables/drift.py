"""The `drift` table for a range of days: each day's inputs and outputs against the reference."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift import OUTPUT_COLUMNS, build_reference_profile, compute_drift
from perf_pipeline.lake import day_files, read_files_sql, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import DRIFT
from perf_pipeline.tables.reference import reference_frame


def compute_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    """Drift rows of `days`; a file reference is profiled once for the whole range."""
    frames = []
    if model.reference.source == "file":
        reference = reference_frame(con, paths, model)
        if reference is None:
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
        profile = build_reference_profile(reference, model)
        current = _current(con, paths, model, days)
        if current is not None:
            frames.append(compute_drift(profile, current, model, "file"))
    else:
        for day in days:
            reference = reference_frame(con, paths, model, day)
            current = _current(con, paths, model, [day])
            if reference is None or current is None:
                continue
            profile = build_reference_profile(reference, model)
            frames.append(
                compute_drift(profile, current, model, f"trailing_{model.reference.days}d")
            )
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)


def _current(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame | None:
    files = day_files(paths, "predictions", model.model_id, days)
    if not files:
        return None
    frame = con.execute(f"SELECT * FROM {read_files_sql(files)}").df()
    return frame if len(frame) else None


def write_days(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    frame: pd.DataFrame,
) -> dict[dt.date, int]:
    return write_frame_partitions(con, paths, "drift", model.model_id, frame, DRIFT, days)
