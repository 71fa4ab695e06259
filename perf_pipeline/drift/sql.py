"""The `drift` table for days and references of any size: DuckDB reads, NumPy counts.

Pandas frames of ten million rows (and their string columns) do not fit in a few gigabytes, so
columns are never loaded as frames. DuckDB streams the Parquet files and hands over one column
at a time, already cleaned: a numerical column as one NumPy array of its values (8 bytes a row),
a categorical one as its value counts (one GROUP BY). NumPy then does what SQL does slowly: a
running sum over one ordered partition is single-threaded in DuckDB and cost about twice a sort,
while `np.sort` and `np.searchsorted` release the GIL, so columns are summarised on a small thread
pool while the main thread fetches the next column.

For a numerical column the two sorted sides are merged (a stable sort of two sorted runs is a
linear merge) and the counts of each side at or below every merged value come from one
`searchsorted` into the reference: the Kolmogorov-Smirnov statistic and the Wasserstein-1
distance follow from those integer counts, and Sturges histograms are `searchsorted` of the bin
edges. Each term is the same floating-point operation as in SciPy/NumPy; only the order of the
final sums differs, so results agree to about 1e-12 relative.

The reference is profiled once (`build_reference_profile_sql`): per column its sorted values
(or, when values repeat, distinct values and counts), n and population std. Every day reuses it.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift import registry
from perf_pipeline.drift.compute import (
    _DTYPES,
    OUTPUT_COLUMNS,
    check_settings,
    drift_columns,
    finish_day,
)
from perf_pipeline.drift.kernels import (
    FEW_UNIQUE_VALUES,
    HISTOGRAM_MIN_UNIQUE,
    NUMERICAL,
    ColumnSample,
    EcdfSummary,
    Kind,
    binned_counts,
)
from perf_pipeline.drift.methods import PSI, default_threshold, method_for, result_of
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

_INTEGER_TYPES = frozenset(
    {
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
    }
)
_FLOAT_PREFIXES = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")
# Merged values are walked in blocks of this many, so the temporaries of a ten-million-row
# column (positions, counts, gaps) stay a few tens of megabytes instead of a gigabyte.
_BLOCK = 1 << 20
# One worker per core: np.sort and np.searchsorted release the GIL, so columns run in parallel.
_WORKERS = max(1, os.cpu_count() or 1)

T = TypeVar("T")


@dataclass
class Side:
    """One column on one side, summarised in NumPy.

    `values` are sorted. With `counts` None they are the clean values themselves (nulls, NaN
    and infinities dropped, repeats kept); otherwise they are distinct and `counts` says how
    often each occurs. Categories are always distinct strings with counts; a reference column
    whose values repeat is stored that way too, which is smaller and merges faster.
    """

    kind: Kind
    values: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    counts: np.ndarray | None = None
    integer: bool = False  # numbers pandas would keep as int64 (integer type, no nulls)
    std: float = math.nan
    _cumulative: np.ndarray | None = field(default=None, repr=False)
    _distinct: int | None = field(default=None, repr=False)
    _sample: ColumnSample | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.counts is not None:
            # Cumulative counts with a leading 0: `cum[i]` rows lie below `values[i]`. Built
            # here, not lazily, so a reference shared by worker threads is never written to.
            self._cumulative = np.concatenate(([0], np.cumsum(self.counts, dtype=np.int64)))
            self._distinct = int(self.values.size)

    @classmethod
    def numbers(cls, values: np.ndarray, integer: bool = False, reference: bool = False) -> Side:
        """A numerical side from clean values in any order (sorted here, in place).

        A `reference` also gets its std (which scales Wasserstein), as `ColumnSample` computes
        it, and keeps distinct values and counts when that halves its size at least: worth it
        for a summary kept for many days, not for a day used once.
        """
        values.sort()
        side = cls(NUMERICAL, values, integer=integer)
        if not reference or values.size == 0:
            return side
        side.std = float(np.std(values.astype(np.float64, copy=False)))
        if side.distinct * 2 <= values.size:
            keys, counts = _distinct_counts(values)
            return cls(NUMERICAL, keys, counts, integer=integer, std=side.std)
        return side

    @property
    def n(self) -> int:
        if self._cumulative is not None:
            return int(self._cumulative[-1])
        return int(self.values.size)

    @property
    def low(self) -> float:
        return self.values[0] if self.values.size else math.nan

    @property
    def high(self) -> float:
        return self.values[-1] if self.values.size else math.nan

    @property
    def distinct(self) -> int:
        """Distinct values: runs of equal neighbours in the sorted values."""
        if self._distinct is None:
            values = self.values
            self._distinct = int(np.count_nonzero(values[1:] != values[:-1])) + int(values.size > 0)
        return self._distinct

    def count_at_or_below(self, positions: np.ndarray) -> np.ndarray:
        """Rows among the first `positions` sorted values: maps a searchsorted index to a count."""
        return positions if self._cumulative is None else self._cumulative[positions]

    def sample(self, with_values: bool = False) -> ColumnSample:
        """Distinct values and counts, for the methods that compare value by value; `with_values`
        adds a number column's sorted raw values (repeats expanded), as `ColumnSample` holds
        them on the pandas path, for a method that reads them."""
        if self._sample is None:
            if self.counts is None:
                keys, counts = _distinct_counts(self.values)
            else:
                keys, counts = self.values, self.counts
            self._sample = ColumnSample(self.kind, np.empty(0), keys, counts, self.std)
        if not with_values or self.kind != NUMERICAL:
            return self._sample
        values = self.values if self.counts is None else np.repeat(self.values, self.counts)
        return ColumnSample(self.kind, values, self._sample.keys, self._sample.counts, self.std)


@dataclass
class SqlReferenceProfile:
    """The reference, summarised once, for any number of days.

    The summary lives in NumPy arrays only (no DuckDB temp tables), so once it is built the
    days never read the reference relation again.
    """

    model_id: str
    kinds: dict[str, Kind]
    columns: dict[str, Side]


def _distinct_counts(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(..., return_counts=True)` of values already sorted, without sorting again."""
    if sorted_values.size == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


# --- reading columns -------------------------------------------------------------------------


def relation_sql(name: str) -> str:
    """Quote a table or view name (each dotted part), so a name can never inject SQL."""
    return ".".join(q(part) for part in name.split("."))


def _column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(row[0]): str(row[1]).upper() for row in rows}


def _is_float(column_type: str) -> bool:
    return column_type.startswith(_FLOAT_PREFIXES)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return con.execute(sql).fetchall()[0]


def _values_sql(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str,
    column: str,
    kind: Kind,
    column_type: str,
) -> tuple[str, bool]:
    """A query of `v`, the column's clean values as pandas would see them, and whether integer.

    Numbers: integer types stay BIGINT when the side has no nulls (pandas turns an integer column
    with nulls into float64, which changes Sturges binning); floats lose NaN and infinities.
    Categories are strings; float columns holding only whole numbers print as integers, so the
    reference's 1.0 and a day's "1" are the same category (as `ColumnSample` does).
    """
    col = q(column)
    base = f"FROM {relation} WHERE {where}"
    if kind == NUMERICAL:
        if column_type in _INTEGER_TYPES:
            total, present = _scalar(con, f"SELECT count(*), count({col}) {base}")
            sql = f"SELECT CAST({col} AS BIGINT) AS v {base} AND {col} IS NOT NULL"
            return sql, total == present
        if _is_float(column_type):
            v = f"CAST({col} AS DOUBLE)"
            return f"SELECT {v} AS v {base} AND isfinite({v})", False
        raise ValueError(f"drift column {column!r} should be numerical; its type is {column_type}")
    if column_type == "BOOLEAN":
        v = f"CASE WHEN {col} THEN 'True' ELSE 'False' END"
    elif _is_float(column_type):
        x = f"CAST({col} AS DOUBLE)"
        (whole,) = _scalar(con, f"SELECT bool_and(isfinite({x}) AND {x} = trunc({x})) {base}")
        v = f"CAST(CAST({x} AS BIGINT) AS VARCHAR)" if whole else f"CAST({x} AS VARCHAR)"
        return f"SELECT {v} AS v {base} AND {x} IS NOT NULL AND NOT isnan({x})", False
    else:
        v = f"CAST({col} AS VARCHAR)"
    return f"SELECT {v} AS v {base} AND {col} IS NOT NULL", False


def _fetch(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str,
    column: str,
    kind: Kind,
    column_type: str | None,
    reference: bool,
) -> Callable[[], Side]:
    """Read one column from DuckDB now; return the NumPy work that turns it into a `Side`.

    Reading stays on the calling thread (a DuckDB connection is not shared between threads);
    the returned function is what the worker threads run. A column missing from the data is an
    empty side, so its row says NULL instead of failing.
    """
    if column_type is None:
        return lambda: Side(kind)
    values, integer = _values_sql(con, relation, where, column, kind, column_type)
    if kind == NUMERICAL:
        array = np.asarray(con.execute(values).fetchnumpy()["v"])
        if array.dtype == object or not array.flags.writeable:  # sorted in place later
            array = array.astype(np.float64 if array.dtype == object else array.dtype)
        return lambda: Side.numbers(array, integer=integer, reference=reference)
    fetched = con.execute(
        f"SELECT v, count(*)::BIGINT AS c FROM ({values}) GROUP BY v"
    ).fetchnumpy()
    keys = np.asarray(fetched["v"]).astype(str)
    counts = np.asarray(fetched["c"], dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    return lambda: Side(kind, keys[order], counts[order])


def _run_pipelined(
    jobs: list[tuple[str, Callable[[], Callable[[], T]]]],
) -> dict[str, T]:
    """Run each job's read on this thread and its NumPy work on a thread pool, in order.

    At most one read waits beyond the busy workers, so a ten-million-row day never holds more
    than a few of its columns in memory at once.
    """
    results: dict[str, Future[T]] = {}
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for key, read in jobs:
            running = [f for f in results.values() if not f.done()]
            if len(running) > _WORKERS:
                wait(running, return_when=FIRST_COMPLETED)
            results[key] = pool.submit(read())
        return {key: future.result() for key, future in results.items()}


# --- the statistics --------------------------------------------------------------------------


def _n_values(reference: Side, current: Side) -> int:
    """Distinct values over both sides, as `methods.unique_count` counts them."""
    if reference.distinct > FEW_UNIQUE_VALUES:
        return reference.distinct
    if current.distinct > FEW_UNIQUE_VALUES:
        return current.distinct
    return int(np.union1d(reference.sample().keys, current.sample().keys).size)


def ecdf_distances(reference: Side, current: Side, block: int = _BLOCK) -> tuple[float, float]:
    """The KS statistic and the Wasserstein-1 distance from the merged ECDFs.

    Both sides' sorted values are merged by a stable argsort of the two sorted runs (a linear
    merge in NumPy's timsort), which also tells each merged value's side: r, the reference's
    values among the first k merged ones, is a running count, no search needed. At the last of
    each run of equal merged values x, the current's are k - r, and with A and B the rows at or
    below x on each side, S = n_cur A - n_ref B = n_ref n_cur (F_ref(x) - F_cur(x)) exactly, in
    integers. Then KS = max |S| / (n_ref n_cur) and W1 = sum |S| (x_next - x) / (n_ref n_cur),
    as `scipy.stats.ks_2samp` and `wasserstein_distance` form them from count / n per side; the
    two agree to a few units in the last place. The merge is walked in blocks of `block` values
    to bound memory.
    """
    n1, n2 = reference.n, current.n
    both = np.concatenate(
        (
            reference.values.astype(np.float64, copy=False),
            current.values.astype(np.float64, copy=False),
        )
    )
    order = np.argsort(both, kind="stable")
    size_ref = reference.values.size
    total = order.size
    ref_before = 0  # reference values among the merged values before the block
    largest = 0
    w1 = 0.0
    for start in range(0, total, block):
        stop = min(start + block, total)
        taken = order[start : stop + 1]  # one more: the value after the block's last
        merged = both[taken]
        ref_seen = np.cumsum(taken[: stop - start] < size_ref) + ref_before
        ref_before = int(ref_seen[-1])
        ends = np.flatnonzero(merged[:-1] != merged[1:])
        if stop == total:
            ends = np.append(ends, stop - start - 1)
        ref_index = ref_seen[ends]
        s = n2 * reference.count_at_or_below(ref_index)
        s -= n1 * current.count_at_or_below(ends + (start + 1) - ref_index)
        np.abs(s, out=s)
        if s.size:  # a block of one repeated value ends no run
            largest = max(largest, int(s.max()))
        inner = ends + 1 < merged.size  # the last merged value has no gap after it
        gaps = merged[ends[inner] + 1] - merged[ends[inner]]
        w1 += float(np.dot(s[inner].astype(np.float64), gaps))
    scale = float(n1) * float(n2)
    return largest / scale, w1 / scale


def sturges_edges(low: float, high: float, size: int, integer: bool) -> np.ndarray:
    """`np.histogram_bin_edges(both_sides, bins='sturges')` from the range, size and dtype alone.

    The edges depend on nothing else, so NumPy is asked directly with a stand-in array of the
    same size, dtype, min and max: bit-identical edges without the data.
    """
    dtype = np.int64 if integer else np.float64
    stand_in = np.full(size, high, dtype=dtype)
    stand_in[0] = low
    return np.histogram_bin_edges(stand_in, bins="sturges")


def histogram_counts(side: Side, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]`, counted as NumPy does for explicit edges.

    The sorted values are searched for the edges: bin i holds edges[i] <= x < edges[i+1], the
    last bin is closed on the right.
    """
    cut = np.concatenate(
        (
            np.searchsorted(side.values, edges[:-1], "left"),
            np.searchsorted(side.values, edges[-1:], "right"),
        )
    )
    return np.diff(side.count_at_or_below(cut))


def _binned_counts(reference: Side, current: Side) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's bins: Sturges over both sides for rich numbers, otherwise value by value."""
    if reference.kind == NUMERICAL and reference.distinct > HISTOGRAM_MIN_UNIQUE:
        edges = sturges_edges(
            min(reference.low, current.low),
            max(reference.high, current.high),
            reference.n + current.n,
            reference.integer and current.integer,
        )
        return histogram_counts(reference, edges), histogram_counts(current, edges)
    return binned_counts(reference.sample(), current.sample())


def _measure(
    entry: registry.DriftMethod, reference: Side, current: Side
) -> tuple[float, float | None]:
    """`(statistic, p_value)` as the entry gives them on the pandas path.

    A method with an ECDF form (ks, wasserstein) reads one merged walk of the sorted sides; a
    binned one reads the Sturges or per-value counts; any other gets `ColumnSample`s, with the
    raw values only when it reads them.
    """
    if entry.on_ecdf is not None:
        ks, w1 = ecdf_distances(reference, current)
        summary = EcdfSummary(ks, w1, reference.n, current.n, reference.std)
        return entry.pair(entry.on_ecdf(summary))
    if entry.on_bins is not None:
        return entry.pair(entry.on_bins(*_binned_counts(reference, current)))
    assert entry.on_samples is not None  # DriftMethod guarantees one of the two
    samples = (side.sample(with_values=entry.reads_values) for side in (reference, current))
    return entry.pair(entry.on_samples(*samples))


def column_row(
    reference: Side,
    current: Side,
    method: str | None,
    threshold: float | None,
) -> dict[str, object]:
    """One column's row of the table, as `methods.run_test` and `psi_or_none` would give it."""
    if method is None:
        method = method_for(reference.kind, reference.n, _n_values(reference, current))
    threshold = default_threshold(method, threshold)
    row: dict[str, object] = {
        "method": method,
        "statistic": None,
        "p_value": None,
        "threshold": threshold,
        "drifted": None,
        "psi": None,
    }
    if reference.n == 0 or current.n == 0:
        return row
    statistic, p_value = _measure(registry.get(method), reference, current)
    row["psi"] = statistic if method == PSI else _measure(registry.get(PSI), reference, current)[0]
    result = result_of(method, statistic, p_value, threshold)
    row["statistic"] = result.statistic
    row["p_value"] = result.p_value
    row["drifted"] = result.drifted
    return row


# --- the table -------------------------------------------------------------------------------


def build_reference_profile_sql(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, reference_relation: str
) -> SqlReferenceProfile:
    """Profile the reference once; `drop_reference_profile` lets go of it.

    Also rejects method overrides and settings that cannot apply, before any day is computed.
    """
    relation = relation_sql(reference_relation)
    types = _column_types(con, relation)
    kinds = drift_columns(model, has_score="score" in types)
    check_settings(model, kinds)
    jobs = [
        (column, _reference_job(con, relation, column, kind, types.get(column)))
        for column, kind in kinds.items()
    ]
    return SqlReferenceProfile(model.model_id, kinds, _run_pipelined(jobs))


def _reference_job(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    column: str,
    kind: Kind,
    column_type: str | None,
) -> Callable[[], Callable[[], Side]]:
    return lambda: _fetch(con, relation, "TRUE", column, kind, column_type, reference=True)


def drop_reference_profile(con: duckdb.DuckDBPyConnection, profile: SqlReferenceProfile) -> None:
    """Free the profile's arrays now rather than when the last reference to it goes; it must
    not be used afterwards. `con` is unused (the profile holds nothing in DuckDB) but kept so
    callers need not care how a profile is stored."""
    profile.columns.clear()


@contextmanager
def reference_profile_sql(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, reference_relation: str
) -> Iterator[SqlReferenceProfile]:
    """`build_reference_profile_sql`, let go of on leaving the block."""
    profile = build_reference_profile_sql(con, model, reference_relation)
    try:
        yield profile
    finally:
        drop_reference_profile(con, profile)


def _days(con: duckdb.DuckDBPyConnection, relation: str) -> list[dt.date]:
    rows = con.execute(
        f"SELECT DISTINCT CAST(date AS DATE) AS d FROM {relation} WHERE date IS NOT NULL ORDER BY d"
    ).fetchall()
    return [row[0] for row in rows]


def _day_job(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str,
    column: str,
    kind: Kind,
    column_type: str | None,
    reference: Side,
    model: ModelConfig,
) -> Callable[[], Callable[[], dict[str, object]]]:
    """Read the day's column on the calling thread; summarise and test it on a worker."""

    def read() -> Callable[[], dict[str, object]]:
        build = _fetch(con, relation, where, column, kind, column_type, reference=False)
        return lambda: column_row(
            reference,
            build(),
            model.drift.methods.get(column),
            model.drift.thresholds.get(column),
        )

    return read


def compute_drift_sql(
    con: duckdb.DuckDBPyConnection,
    model: ModelConfig,
    reference_relation: str,
    current_relation: str,
    reference_kind: str,
    profile: SqlReferenceProfile | None = None,
) -> pd.DataFrame:
    """Rows of the `drift` table for every date in `current_relation`, as `compute_drift` gives.

    Both relations are table or view names in `con` (views over Parquet files work: nothing is
    loaded whole). Pass a `profile` to reuse one reference for many calls; without one the
    reference is profiled for this call and let go of afterwards.
    """
    if profile is None:
        with reference_profile_sql(con, model, reference_relation) as built:
            return compute_drift_sql(
                con, model, reference_relation, current_relation, reference_kind, built
            )
    if profile.model_id != model.model_id:
        raise ValueError(
            f"reference profile of model {profile.model_id!r} used for model {model.model_id!r}"
        )
    current = relation_sql(current_relation)
    types = _column_types(con, current)
    columns = drift_columns(model, has_score="score" in profile.kinds or "score" in types)
    rows: list[dict[str, object]] = []
    for day in _days(con, current):
        where = f"CAST(date AS DATE) = DATE {quote_literal(day.isoformat())}"
        jobs = [
            (
                column,
                _day_job(
                    con,
                    current,
                    where,
                    column,
                    kind,
                    types.get(column),
                    profile.columns.get(column) or Side(kind),
                    model,
                ),
            )
            for column, kind in columns.items()
        ]
        day_rows = [{"column": column, **row} for column, row in _run_pipelined(jobs).items()]
        for row in finish_day(day_rows, model):
            rows.append(
                {"model_id": model.model_id, "date": day, "reference_kind": reference_kind, **row}
            )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS).astype(_DTYPES)
