"""CBPE inputs per day: the calibration and sampling-error units, fitted once per reference.

`day_calibrations` is what the `performance` step calls. For a model whose reference is a file,
one calibration serves every day: it is stored as JSON beside the typed reference
(`warehouse/reference/model=<id>/cbpe_calibration.json`) with the content hash of the reference's
Parquet files (and of the settings it depends on), and fitted again on first use whenever the
stored hash differs, so "fitted once per reference, re-fitted when it changes" needs no step of
its own.

A trailing-window reference (`reference: {source: trailing, days: N}`) is production data, with
no guarantee that its labels have landed: each day's calibration is fitted on the labelled rows
of the N days before it when there are at least `MIN_WINDOW_ROWS` of them holding every class,
and is the raw scores otherwise (no calibration, no sampling-error units: proportions then get
Wilson intervals). It is stored per day (`.../model=<id>/date=<day>/cbpe_calibration.json`),
keyed by the names, sizes and modification times of the window's prediction files and of the
model's label files, so a label arriving later re-fits the days whose window it falls in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.estimation.calibration import CalibrationFit
from perf_pipeline.lake import day_files, read_files_sql, read_table_sql
from perf_pipeline.metrics.estimation_sql import DayCalibration
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables.serving import production_rows_sql
from perf_pipeline.tables.wanted_ids import ids_filter

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIN_REFERENCE_ROWS",
    "MIN_WINDOW_ROWS",
    "STORED_NAME",
    "day_calibrations",
    "fit_calibration",
    "reference_calibration",
    "stored_calibration_path",
    "window_calibration",
]

STORED_NAME = "cbpe_calibration.json"
MIN_REFERENCE_ROWS = 100
MIN_WINDOW_ROWS = 500
# Bumped when the fitting changes, so every stored calibration is fitted again.
_FORMAT = 1
_CLASSIFIERS = (Task.BINARY_CLASSIFICATION, Task.MULTICLASS_CLASSIFICATION)


def day_calibrations(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: Sequence[dt.date]
) -> dict[dt.date | None, DayCalibration] | None:
    """The estimates' inputs for `days`: one entry (key None) for a reference file, one per day
    for a trailing window; None for a model without estimates or without a reference yet."""
    if model.task not in _CLASSIFIERS:
        return None
    if model.reference.source == "file":
        calibration = reference_calibration(con, paths, model)
        return None if calibration is None else {None: calibration}
    # The label files and their stamps are listed once for all the days (each day's key
    # reads them), not once per day: a long backfill would list the history once a day.
    labels = _label_stamps(paths, model)
    return {day: window_calibration(con, paths, model, day, labels) for day in days}


def stored_calibration_path(paths: DataPaths, model: ModelConfig, day: dt.date | None) -> Path:
    return paths.partition_dir("reference", model.model_id, day) / STORED_NAME


def _settings(model: ModelConfig) -> dict[str, Any]:
    """What a calibration depends on beyond the data: the class setup and the threshold."""
    binary = model.task is Task.BINARY_CLASSIFICATION
    return {
        "format": _FORMAT,
        "task": model.task.value,
        "classes": [str(c) for c in model.classes],
        "positive": model.binary_classes[1] if binary else None,
        "threshold": float(model.decision_threshold) if binary else None,
    }


def _key(model: ModelConfig, parts: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(_settings(model), sort_keys=True).encode())
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()


def reference_calibration(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> DayCalibration | None:
    """The calibration of the model's reference file, fitted when its stored hash is stale."""
    folder = paths.partition_dir("reference", model.model_id, None)
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        return None
    parts = []
    for file in files:
        parts.append(file.name)
        parts.append(hashlib.sha256(file.read_bytes()).hexdigest())
    source = read_table_sql(paths, "reference", model.model_id)

    def rows() -> pd.DataFrame:
        return con.execute(f"SELECT * FROM {source} WHERE label IS NOT NULL").df()

    path = stored_calibration_path(paths, model, None)
    return _load_or_fit(con, model, path, _key(model, parts), rows, MIN_REFERENCE_ROWS)


def _file_stamps(files: Sequence[str]) -> list[str]:
    """Name, size and modification time of each file: what a stored calibration is keyed by."""
    stamps = []
    for file in files:
        stat = os.stat(file)
        stamps.append(f"{file}|{stat.st_size}|{stat.st_mtime_ns}")
    return stamps


def _label_stamps(paths: DataPaths, model: ModelConfig) -> tuple[list[str], list[str]]:
    """The model's label files, and their stamps (`_file_stamps`)."""
    labels_dir = paths.table_dir("labels") / f"model={model.model_id}"
    labels = sorted(str(p) for p in labels_dir.rglob("*.parquet")) if labels_dir.exists() else []
    return labels, _file_stamps(labels)


def window_calibration(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    day: dt.date,
    label_stamps: tuple[list[str], list[str]] | None = None,
) -> DayCalibration:
    """The calibration of the trailing window before `day` (raw scores without enough labels);
    `label_stamps` (`_label_stamps`) when the caller listed the label files already."""
    window = [day - dt.timedelta(days=i) for i in range(model.reference.days or 1, 0, -1)]
    predictions = day_files(paths, "predictions", model.model_id, window)
    labels, stamps = label_stamps or _label_stamps(paths, model)
    if not predictions or not labels:
        return DayCalibration()
    parts = [*_file_stamps(predictions), *stamps]
    parts += [f"shadow|{version}" for version in model.shadow_versions]  # fitted without them

    def rows() -> pd.DataFrame:
        # Only the window's ids can join: their labels are all that is read (`wanted_ids`).
        window = production_rows_sql(predictions, model)
        wanted = ids_filter(con, f"SELECT prediction_id FROM {window}", "_cbpe_window_ids")
        return con.execute(
            f"SELECT p.*, l.label FROM {window} AS p JOIN ("
            "SELECT prediction_id, arg_max(label, (arrival_date, label_timestamp)) AS label "
            f"FROM {read_files_sql(labels)} WHERE {wanted} GROUP BY prediction_id) AS l "
            "USING (prediction_id) WHERE l.label IS NOT NULL"
        ).df()

    path = stored_calibration_path(paths, model, day)
    return _load_or_fit(con, model, path, _key(model, parts), rows, MIN_WINDOW_ROWS)


def _load_or_fit(
    con: duckdb.DuckDBPyConnection,
    model: ModelConfig,
    path: Path,
    key: str,
    rows: Callable[[], pd.DataFrame],
    min_rows: int,
) -> DayCalibration:
    stored = _read(path)
    if stored is None or stored.get("key") != key:
        stored = {"key": key, **fit_calibration(con, model, rows(), min_rows)}
        _write(path, stored)
    curves = {col: (c["x"], c["y"]) for col, c in stored["curves"].items()}
    return DayCalibration(curves=curves, se_units=stored["se_units"])


def fit_calibration(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, rows: pd.DataFrame, min_rows: int
) -> dict[str, Any]:
    """Calibration and sampling-error units of labelled `rows`, as the stored JSON holds them."""
    from perf_pipeline.estimation.sampling_error import chunk_size, se_units

    usable, fit = _fit(model, rows, min_rows)
    enough = fit.reason != "too few labelled rows"
    return {
        "reason": fit.reason,
        "rows": len(usable),
        "heldout_brier_raw": fit.raw_brier,
        "heldout_brier_calibrated": fit.calibrated_brier,
        "curves": {col: {"x": x, "y": y} for col, (x, y) in fit.curves.items()},
        "chunk_rows": chunk_size(len(usable)) if enough else None,
        "se_units": se_units(con, model, usable) if enough else {},
    }


def _fit(
    model: ModelConfig, rows: pd.DataFrame, min_rows: int
) -> tuple[pd.DataFrame, CalibrationFit]:
    """The usable labelled rows and their calibration (raw scores when there are too few)."""
    from perf_pipeline.estimation.calibration import fit_binary, fit_multiclass

    columns = [c for c in model.score_columns]
    if any(c not in rows.columns for c in columns):
        return rows.iloc[:0], CalibrationFit({}, "too few labelled rows")
    labels = rows["label"].astype("string")
    if model.task is Task.BINARY_CLASSIFICATION:
        usable = rows[rows["score"].notna() & labels.isin(model.binary_classes)]
        positive = (usable["label"].astype("string") == model.binary_classes[1]).to_numpy()
        if len(usable) < min_rows or positive.all() or not positive.any():
            return usable, CalibrationFit({}, "too few labelled rows")
        return usable, fit_binary(usable["score"].to_numpy(dtype=float), positive)
    classes = [str(c) for c in model.classes]
    usable = rows[rows[columns].notna().all(axis=1) & labels.isin(classes)]
    index = usable["label"].astype("string").map(classes.index).to_numpy(dtype=int)
    if len(usable) < min_rows or len(set(index.tolist())) < 2:
        return usable, CalibrationFit({}, "too few labelled rows")
    return usable, fit_multiclass(usable[columns].to_numpy(dtype=float), index, columns)


def _read(path: Path) -> dict[str, Any] | None:
    """The stored calibration; an unreadable or foreign file counts as none (it is re-fitted)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and "curves" in stored else None


def _write(path: Path, stored: dict[str, Any]) -> None:
    """Written to a temporary name and renamed: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(path)
    try:
        tmp.write_text(json.dumps(stored), encoding="utf-8")
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
