"""Estimated mae, mse and rmse of a regression model's days, from its loss models (`dle`).

The loss models of a reference file are fitted once and stored beside the reference, in
`warehouse/reference/model=<id>/loss_model.pkl`, with the key they were fitted for: a hash of the
stored reference files' bytes, the model's feature lists, the scikit-learn version and the
format below. The first estimate after the reference changes (or after an upgrade) refits them;
every other run loads them. A model whose reference is a trailing window has a different
reference every day: its loss models are fitted per day on the window's labelled rows (the
latest label of each prediction of the `days` days before), and not stored.

Rows (`performance` shape, `is_estimated = true`, `predicted_from` NULL): one per (day,
segment group, metric) for mae, mse and rmse, over every prediction of the group, labelled or not
(`n` = the group's rows; `label_coverage` its labelled share), on every day, so a day with part of
its labels has realized and estimated rows side by side. Groups are those of the realized rows:
`__all__` and each value of the segments and protected attributes (NULL as `__null__`).
No rows at all when the reference has fewer than `MIN_REFERENCE_ROWS` labelled rows. A day of
more than 200,000 rows is predicted on a sample stratified by group, its error added to the
interval (`dle_sampling`); `n` and `label_coverage` still count every row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import pickle
import uuid
from importlib.metadata import version
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from perf_pipeline.config import ModelConfig
from perf_pipeline.estimation.dle import METRICS, LossModel, design_sql, fit_loss_model
from perf_pipeline.estimation.dle_sampling import (
    SAMPLING,
    Sampling,
    inclusion_sql,
    sample_variance,
    sampled_sums_sql,
    uniform_sql,
)
from perf_pipeline.lake import day_files, read_table_sql
from perf_pipeline.metrics.performance import ALL, COLUMNS, NULL_SEGMENT
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal
from perf_pipeline.tables.serving import production_rows_sql

STORED_NAME = "loss_model.pkl"
# Bump when what a stored loss model means changes (inputs, targets, interval), so it refits.
# 2: category codes enter the trees as numbers.
_FORMAT = 2


def segment_columns(model: ModelConfig) -> list[str]:
    """The columns the realized rows are grouped by besides `__all__`, in their order."""
    return list(dict.fromkeys([*model.segments, *model.protected_attributes]))


def _model_columns_sql(model: ModelConfig) -> list[str]:
    numerical = [f"TRY_CAST({q(c)} AS DOUBLE) AS {q(c)}" for c in model.features.numerical]
    categorical = [f"CAST({q(c)} AS VARCHAR) AS {q(c)}" for c in model.features.categorical]
    return [*numerical, *categorical, "CAST(prediction AS DOUBLE) AS prediction"]


# ------------------------------------------------------------------------- a reference file


def stored_model_path(paths: DataPaths, model: ModelConfig) -> Path:
    return paths.partition_dir("reference", model.model_id, None) / STORED_NAME


def reference_key(paths: DataPaths, model: ModelConfig) -> str | None:
    """The content hash the stored loss models must carry; None without a stored reference."""
    folder = paths.partition_dir("reference", model.model_id, None)
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        return None
    digest = hashlib.sha256()
    settings = {
        "format": _FORMAT,
        "sklearn": version("scikit-learn"),
        "numerical": model.features.numerical,
        "categorical": model.features.categorical,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _load_stored(path: Path, key: str) -> tuple[bool, LossModel | None]:
    """(found, model) of a stored fit for `key`; an unreadable file is no fit (it is refitted)."""
    try:
        with path.open("rb") as handle:
            # Only `_store` below writes this file, inside the lake.
            stored = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError):
        return False, None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return False, None
    return True, stored.get("model")


def _store(path: Path, key: str, loss_model: LossModel | None) -> None:
    """Written to a temporary name and renamed, so a reader never sees half a file; a reference
    too small to fit is stored too (as None), so it is not refitted on every run."""
    tmp = staging_path(path)
    try:
        with tmp.open("wb") as handle:
            pickle.dump({"key": key, "model": loss_model}, handle, protocol=5)
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def reference_loss_model(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> LossModel | None:
    """The loss models of the model's reference file: loaded when stored for the current
    reference, fitted and stored otherwise. None without a usable reference."""
    key = reference_key(paths, model)
    if key is None:
        return None
    path = stored_model_path(paths, model)
    found, loss_model = _load_stored(path, key)
    if found:
        return loss_model
    source = read_table_sql(paths, "reference", model.model_id)
    columns = ", ".join([*_model_columns_sql(model), "CAST(label AS DOUBLE) AS label"])
    frame = con.execute(f"SELECT {columns} FROM {source}").df()
    loss_model = fit_loss_model(frame, model.features.numerical, model.features.categorical)
    _store(path, key, loss_model)
    return loss_model


# ------------------------------------------------------------------------ a trailing window


def window_loss_model(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    day: dt.date,
    labels: str,
) -> LossModel | None:
    """Loss models fitted on the labelled rows of the `reference.days` days before `day`
    (`labels`: a relation of the latest label per prediction_id). Rows are read in id order,
    so the hold-out split, hence the fit, is the same whichever run computes the day."""
    window = [day - dt.timedelta(days=i) for i in range(model.reference.days or 1, 0, -1)]
    files = day_files(paths, "predictions", model.model_id, window)
    if not files:
        return None
    columns = ", ".join([*_model_columns_sql(model), "CAST(l.label AS DOUBLE) AS label"])
    frame = con.execute(
        f"SELECT {columns} FROM {production_rows_sql(files, model)} AS p "
        f"JOIN {q(labels)} AS l USING (prediction_id) "
        "WHERE l.label IS NOT NULL ORDER BY p.date, p.prediction_id"
    ).df()
    return fit_loss_model(frame, model.features.numerical, model.features.categorical)


# ----------------------------------------------------------------------------- day rows


def _segments_sql(model: ModelConfig, prefix: str = "seg_") -> list[str]:
    """Segments as text (`seg_<i>`), cast like the realized rows so both carry the same values."""
    return [
        f"coalesce(CAST({q(c)} AS VARCHAR), {quote_literal(NULL_SEGMENT)}) AS {prefix}{i}"
        for i, c in enumerate(segment_columns(model))
    ]


def _days_filter(scored: str, days: list[dt.date]) -> str:
    listed = ", ".join(f"DATE {quote_literal(d.isoformat())}" for d in days)
    return f"FROM {q(scored)} WHERE date IN ({listed})"


def _group_counts(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, scored: str, days: list[dt.date]
) -> pd.DataFrame:
    """Rows and labelled rows per (day, group), `__all__` first: every row counts, whether the
    loss models predict it or not."""
    segments = _segments_sql(model)
    selected = ", ".join(["CAST(date AS DATE) AS date", "label IS NOT NULL AS labelled", *segments])
    measures = "count(*) AS n, count_if(labelled) AS labelled"
    parts = [
        f"SELECT date, 0 AS segment_rank, {quote_literal(ALL)} AS segment_value, {measures} "
        "FROM rows GROUP BY date"
    ]
    parts += [
        f"SELECT date, {i + 1}, seg_{i}, {measures} FROM rows GROUP BY date, seg_{i}"
        for i in range(len(segments))
    ]
    union = "\nUNION ALL\n".join(parts)
    return con.sql(f"WITH rows AS (SELECT {selected} {_days_filter(scored, days)})\n{union}").df()


def _day_rows(
    con: duckdb.DuckDBPyConnection,
    model: ModelConfig,
    scored: str,
    days: list[dt.date],
    loss_model: LossModel,
    counts: pd.DataFrame,
    sampling: Sampling,
) -> pa.Table:
    """The rows to predict, as Arrow (no Python object per value): the loss models' inputs
    encoded in SQL (`m_<i>`), segments (`seg_<i>`) and each row's inclusion probability `pi`
    (`dle_sampling`): every row of a day small enough, a stratified sample of a larger one."""
    design = design_sql(loss_model.numerical, loss_model.categorical, loss_model.vocabulary)
    segments = len(segment_columns(model))
    encoded = ", ".join(
        [
            "__dle_date AS date",
            *(f"{sql} AS m_{i}" for i, sql in enumerate(design)),
            *(f"__dle_seg_{i} AS seg_{i}" for i in range(segments)),
        ]
    )
    has_ids = "prediction_id" in {c.lower() for c in con.sql(f"SELECT * FROM {q(scored)}").columns}
    marked = ", ".join(
        [
            "CAST(date AS DATE) AS __dle_date",
            *_segments_sql(model, "__dle_seg_"),
            f"{uniform_sql(has_ids)} AS __dle_u",
        ]
    )
    rows = f"(SELECT *, {marked} {_days_filter(scored, days)}) AS r"
    day_rows = counts.loc[counts["segment_rank"] == 0, "n"]
    # Without prediction ids no row can be drawn the same way twice: every row is predicted.
    if not has_ids or day_rows.empty or int(day_rows.max()) <= sampling.predict_rows:
        return con.sql(f"SELECT {encoded}, 1.0 AS pi FROM {rows}").to_arrow_table()
    name = f"_dle_counts_{uuid.uuid4().hex}"
    joins, pi = inclusion_sql(name, segments, sampling)
    # Kept rows first, encoded after: the encoding reads only the rows predicted.
    kept = f"(SELECT r.*, {pi} AS __dle_pi FROM {rows} {joins}) WHERE __dle_u < __dle_pi"
    con.register(name, counts)
    try:
        return con.sql(f"SELECT {encoded}, __dle_pi AS pi FROM {kept}").to_arrow_table()
    finally:
        con.unregister(name)


def _group_estimates(
    con: duckdb.DuckDBPyConnection, table: pa.Table, counts: pd.DataFrame, segments: int
) -> pd.DataFrame:
    """Per (day, group): its rows and labelled rows (`counts`), the Hájek means of the kept
    rows' losses (mae, mse) and the variance the sample adds to each (`mae_var`, `mse_var`)."""
    name = f"_dle_losses_{uuid.uuid4().hex}"
    con.register(name, table)
    try:
        sums = con.sql(sampled_sums_sql(name, segments, ALL)).df()
    finally:
        con.unregister(name)
    groups = counts.merge(sums, on=["date", "segment_rank", "segment_value"])
    for loss, metric in (("absolute", "mae"), ("squared", "mse")):
        groups[metric] = groups[f"{loss}_total"] / groups["weight"]
        groups[f"{metric}_var"] = sample_variance(
            groups[f"{loss}_spread_1"],
            groups[f"{loss}_spread_2"],
            groups[metric],
            groups["n"],
            groups["spread_weight"],
        )
    return groups.sort_values(["date", "segment_rank", "segment_value"], ignore_index=True)


def _metric_rows(
    model: ModelConfig, groups: pd.DataFrame, loss_model: LossModel
) -> list[dict[str, object]]:
    """mae, mse and rmse rows with their intervals, from the groups' mean losses."""
    columns = [ALL, *segment_columns(model)]
    rows = []
    for group in groups.itertuples():
        rmse = math.sqrt(group.mse)
        estimates = {"mae": group.mae, "mse": group.mse, "rmse": rmse}
        sampled = {
            "mae": group.mae_var,
            "mse": group.mse_var,
            "rmse": group.mse_var / (4 * group.mse) if group.mse > 0 else 0.0,
        }
        for metric in METRICS:
            low, high = loss_model.interval(
                metric, float(estimates[metric]), int(group.n), float(sampled[metric])
            )
            rows.append(
                {
                    "model_id": model.model_id,
                    "date": pd.Timestamp(group.date).date(),
                    "segment_column": columns[group.segment_rank],
                    "segment_value": group.segment_value,
                    "metric": metric,
                    "value": float(estimates[metric]),
                    "n": int(group.n),
                    "ci_low": low,
                    "ci_high": high,
                    "label_coverage": group.labelled / group.n,
                    "is_estimated": True,
                    "predicted_from": None,
                }
            )
    return rows


def estimate_days(
    con: duckdb.DuckDBPyConnection,
    model: ModelConfig,
    scored: str,
    days: list[dt.date],
    loss_model: LossModel,
    sampling: Sampling = SAMPLING,
) -> list[dict[str, object]]:
    """Estimated rows of every group of `days` in `scored`, with one loss model: the rows are
    counted and encoded in DuckDB (a large day sampled, `sampling`), their losses predicted in
    NumPy, and grouped in DuckDB again."""
    counts = _group_counts(con, model, scored, days)
    table = _day_rows(con, model, scored, days, loss_model, counts, sampling)
    design = [name for name in table.column_names if name.startswith("m_")]
    matrix = np.column_stack([table.column(name).to_numpy() for name in design])
    absolute, squared = loss_model.losses_of(matrix)
    table = table.drop_columns(design)
    table = table.append_column("absolute", pa.array(absolute)).append_column(
        "squared", pa.array(squared)
    )
    groups = _group_estimates(con, table, counts, len(segment_columns(model)))
    return _metric_rows(model, groups, loss_model)


def dle_rows(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    scored: str = "scored",
    labels: str = "latest_labels",
) -> pd.DataFrame:
    """Estimated mae, mse and rmse of `days` per segment group, from `scored` (one row per
    prediction with its `label`, NULL when none); `labels` serves a trailing window's fit."""
    rows: list[dict[str, object]] = []
    if not days:
        pass
    elif model.reference.source == "file":
        loss_model = reference_loss_model(con, paths, model)
        if loss_model is not None:
            rows = estimate_days(con, model, scored, days, loss_model)
    else:
        for day in sorted(days):
            loss_model = window_loss_model(con, paths, model, day, labels)
            if loss_model is not None:
                rows += estimate_days(con, model, scored, [day], loss_model)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["is_estimated"] = frame["is_estimated"].astype(bool)
    return frame.sort_values("date", kind="stable", ignore_index=True)
