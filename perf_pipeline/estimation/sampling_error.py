"""Sampling-error units of the estimated metrics, from reference chunks.

An estimate says what the metric is expected to be; the realized value of a day of n rows still
wanders around that expectation by sampling alone. How far is measured on the reference, as
NannyML does: the realized metric over `CHUNKS` random chunks of m rows (rows drawn without
replacement inside a chunk, chunks independent), whose standard deviation, corrected for the
chunks being drawn from a finite reference (divided by √(1 - m/N)) and scaled by √m, is the metric's
`se_unit`. A day of n rows gets estimate ± 1.96·se_unit/√n, clipped to the metric's range.

The approximation: the metric's spread shrinks like 1/√n (true of proportions and, to first
order, of f1 and the AUCs), and the day looks like the reference (a covariate shift changes the
spread somewhat). The realized values come from the registry's own SQL (`compute_performance`
with one pseudo-day per chunk), so every metric with an estimate gets a unit, with no second
definition of it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics.performance import ALL, compute_performance, model_metrics

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHUNKS", "MIN_ROWS", "chunk_size", "se_units"]

CHUNKS = 40
MIN_ROWS = 200
MAX_CHUNK_ROWS = 5000
_EPOCH = dt.date(1970, 1, 1)


def chunk_size(rows: int) -> int:
    """A quarter of the reference, at most `MAX_CHUNK_ROWS`: small enough for chunks to
    differ, large enough for every metric to be defined in most of them."""
    return max(min(rows // 4, MAX_CHUNK_ROWS), 1)


def reference_chunks(rows: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """The reference's rows drawn into seeded random chunks of `size` (a `chunk` column): what
    a metric's spread between days of that size is measured on, here and by the alert bands."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    parts = []
    for k in range(CHUNKS):
        picked = rows.iloc[rng.choice(len(rows), size=size, replace=False)].copy()
        picked["date"] = _EPOCH + dt.timedelta(days=k)
        parts.append(picked)
    return pd.concat(parts, ignore_index=True)


def se_units(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, rows: pd.DataFrame, seed: int = 0
) -> dict[str, float]:
    """`se_unit` per estimated metric over the labelled reference `rows` ({} when too few).

    A binary reference is judged on its thresholded scores (its logged `prediction` is left
    out), since the estimates judge the score's own decision.
    """
    import numpy as np

    if len(rows) < MIN_ROWS:
        return {}
    size = chunk_size(len(rows))
    frame = reference_chunks(rows, size, seed)
    if model.task is Task.BINARY_CLASSIFICATION:
        frame = frame.drop(columns=["prediction"], errors="ignore")
    plain = model.model_copy(update={"segments": [], "protected_attributes": []})
    estimated = {m.name for m in model_metrics(plain) if m.estimate_sql}
    name = "__cbpe_reference_chunks"
    con.register(name, frame)
    try:
        result = compute_performance(con, plain, name)
    finally:
        con.unregister(name)
    realized = result[(result["segment_column"] == ALL) & ~result["is_estimated"]]
    correction = np.sqrt(max(1.0 - size / len(rows), 1e-9))
    units: dict[str, float] = {}
    for metric, values in realized.groupby("metric")["value"]:
        defined = values.dropna().to_numpy(dtype=float)
        if metric in estimated and len(defined) >= CHUNKS // 2:
            units[str(metric)] = float(np.std(defined, ddof=1) / correction * np.sqrt(size))
    return units
