"""Each day's key numbers, read back from the tables a stage just wrote, for asset metadata.

Numbers only (floats and ints), so Dagster's Plots tab draws them partition by partition:
`predictions` and `labelled` of the day, each overall metric realized (`<metric>`) and estimated
(`<metric>_estimated`), the label coverage; the drift share and the drifted columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift import DATASET_COLUMN
from perf_pipeline.paths import DataPaths

Facts = dict[dt.date, dict[str, Any]]


def _rows(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    table: str,
    model: ModelConfig,
    days: list[dt.date],
    select: str,
) -> list[tuple]:
    from perf_pipeline.lake import day_files, read_files_sql

    files = day_files(paths, table, model.model_id, days)
    if not files:
        return []
    return con.execute(select.format(source=read_files_sql(files))).fetchall()


def performance_facts(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> Facts:
    """Overall metrics of each day, with its row and labelled counts."""
    rows = _rows(
        con,
        paths,
        "performance",
        model,
        days,
        "SELECT date, metric, value, n, label_coverage, is_estimated FROM {source} "
        "WHERE segment_column = '__all__' ORDER BY date, metric",
    )
    facts: Facts = {}
    for day, metric, value, n, coverage, estimated in rows:
        day_facts = facts.setdefault(day, {})
        if estimated:
            day_facts["predictions"] = max(int(n or 0), day_facts.get("predictions", 0))
        else:
            day_facts["labelled"] = max(int(n or 0), day_facts.get("labelled", 0))
            if coverage is not None:
                day_facts["label_coverage"] = float(coverage)
        if value is not None:
            day_facts[f"{metric}_estimated" if estimated else metric] = float(value)
    return facts


def drift_facts(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> Facts:
    """The dataset's share of drifted columns, the drifted count and whether it drifted."""
    from perf_pipeline.sql import quote_literal

    dataset = quote_literal(DATASET_COLUMN)
    rows = _rows(
        con,
        paths,
        "drift",
        model,
        days,
        f'SELECT date, max(statistic) FILTER ("column" = {dataset}), '
        f'count_if(drifted AND "column" <> {dataset}), '
        f'bool_or(drifted) FILTER ("column" = {dataset}) '
        "FROM {source} GROUP BY date ORDER BY date",
    )
    return {
        day: {
            **({"drift_share": float(share)} if share is not None else {}),
            "drifted_columns": int(drifted),
            "dataset_drift": int(bool(drifted_dataset)),
        }
        for day, share, drifted, drifted_dataset in rows
    }
