"""The `drift` table computed inside DuckDB, for days and references of any size.

Pandas frames of ten million rows (and their string columns) do not fit in a few gigabytes;
DuckDB streams Parquet and spills to disk. Everything that grows with the row count runs as SQL:
value counts are GROUP BYs, the Kolmogorov-Smirnov statistic and the Wasserstein-1 distance come
from one sorted pass over the reference's distinct values and the day's values (a window
cumulative count per side), histograms are one GROUP BY over a bin index. Only results of the
size of a column's distinct values (categories, a handful of numbers) or of its bins come back to
Python, where the formulas of `methods` turn them into Evidently's numbers. Each term is computed
with the same floating-point operations as SciPy/NumPy; only the order of the final sums differs,
so results agree to about 1e-12 relative.

The reference is profiled once (`build_reference_profile_sql`): one temp table of distinct values
and counts per column, plus n, min, max and std. Every day reuses it.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift.compute import (
    _DTYPES,
    OUTPUT_COLUMNS,
    check_settings,
    drift_columns,
    finish_day,
)
from perf_pipeline.drift.methods import (
    CATEGORICAL,
    DEFAULT_THRESHOLDS,
    FEW_UNIQUE_VALUES,
    HISTOGRAM_MIN_UNIQUE,
    NUMERICAL,
    P_VALUE_METHODS,
    ColumnSample,
    Kind,
    binned_counts,
    chisquare_p_value,
    is_drifted,
    jensenshannon_from_counts,
    ks_p_value_from_statistic,
    method_for,
    psi_from_counts,
    z_p_value,
)
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
_EMPTY = "SELECT NULL::DOUBLE AS v, 0::BIGINT AS c LIMIT 0"


@dataclass
class Side:
    """One column on one side, as DuckDB sees it.

    `source` is a query of `(v, c)`: clean values (nulls, NaN and infinities dropped) with a count
    each. The reference's is a temp table of distinct values; a day's is its raw rows with c = 1,
    since grouping ten million continuous values would cost more than it saves.
    """

    kind: Kind
    source: str
    n: int = 0
    distinct: int = 0  # exact for the reference; capped at FEW_UNIQUE_VALUES + 1 for a day
    integer: bool = False  # numbers pandas would keep as int64 (integer type, no nulls)
    low: float = math.nan
    high: float = math.nan
    std: float = math.nan
    _sample: ColumnSample | None = field(default=None, repr=False)


@dataclass
class SqlReferenceProfile:
    """The reference, summarised once in temp tables of `con`, for any number of days."""

    model_id: str
    kinds: dict[str, Kind]
    columns: dict[str, Side]
    tables: list[str]


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


def _summarise_numbers(con: duckdb.DuckDBPyConnection, side: Side) -> None:
    n, low, high = _scalar(con, f"SELECT sum(c), min(v), max(v) FROM ({side.source})")
    side.n = int(n or 0)
    if side.n:
        side.low, side.high = low, high


def _reference_side(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    column: str,
    kind: Kind,
    column_type: str | None,
    table: str,
) -> Side:
    """Distinct values and counts in a temp table, with n, range and population std."""
    if column_type is None:  # a column missing from the data: an empty side, NULL results
        return Side(kind, _EMPTY)
    values, integer = _values_sql(con, relation, "TRUE", column, kind, column_type)
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT v, count(*)::BIGINT AS c FROM ({values}) GROUP BY v"
    )
    side = Side(kind, f"SELECT v, c FROM {table}", integer=integer)
    (side.distinct,) = _scalar(con, f"SELECT count(*) FROM {table}")
    if kind == NUMERICAL:
        _summarise_numbers(con, side)
        side.std = _population_std(con, table, side.n)
    else:
        (n,) = _scalar(con, f"SELECT sum(c) FROM {table}")
        side.n = int(n or 0)
    return side


def _population_std(con: duckdb.DuckDBPyConnection, table: str, n: int) -> float:
    """`np.std` (ddof 0) in two passes, as NumPy does, over compensated sums."""
    if n == 0:
        return math.nan
    sql = (
        f"WITH m AS (SELECT fsum(CAST(v AS DOUBLE) * c) / {n} AS mean FROM {table}) "
        f"SELECT sqrt(fsum(c * (CAST(v AS DOUBLE) - mean) ** 2) / {n}) FROM {table}, m"
    )
    return float(_scalar(con, sql)[0])


def _current_side(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    day: dt.date,
    column: str,
    kind: Kind,
    column_type: str | None,
) -> Side:
    """A day's column, left as a query over its rows: only tiny aggregates run here."""
    if column_type is None:
        return Side(kind, _EMPTY)
    where = f"CAST(date AS DATE) = DATE {quote_literal(day.isoformat())}"
    values, integer = _values_sql(con, relation, where, column, kind, column_type)
    side = Side(kind, f"SELECT v, 1::BIGINT AS c FROM ({values})", integer=integer)
    if kind == NUMERICAL:
        _summarise_numbers(con, side)
    else:
        (side.n,) = _scalar(con, f"SELECT count(*) FROM ({values})")
    # DISTINCT under a LIMIT stops early: a continuous column answers without a full hash table.
    (side.distinct,) = _scalar(
        con,
        f"SELECT count(*) FROM (SELECT DISTINCT v FROM ({values}) LIMIT {FEW_UNIQUE_VALUES + 1})",
    )
    return side


def _sample(con: duckdb.DuckDBPyConnection, side: Side) -> ColumnSample:
    """Distinct values and counts in NumPy, for the tests that compare value by value."""
    if side._sample is None:
        sql = f"SELECT v, sum(c)::BIGINT AS c FROM ({side.source}) GROUP BY v"
        fetched = con.execute(sql).fetchnumpy()
        keys = np.asarray(fetched["v"])
        if side.kind == CATEGORICAL:
            keys = keys.astype(str)
        elif keys.dtype == object:
            keys = keys.astype(np.float64)
        counts = np.asarray(fetched["c"], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        side._sample = ColumnSample(side.kind, np.empty(0), keys[order], counts[order], side.std)
    return side._sample


# --- the statistics --------------------------------------------------------------------------


def _n_values(con: duckdb.DuckDBPyConnection, reference: Side, current: Side) -> int:
    """Distinct values over both sides, as `methods.unique_count` counts them."""
    largest = max(reference.distinct, current.distinct)
    if largest > FEW_UNIQUE_VALUES:
        return largest
    keys = np.union1d(_sample(con, reference).keys, _sample(con, current).keys)
    return int(keys.size)


def ecdf_distances(
    con: duckdb.DuckDBPyConnection, reference: Side, current: Side
) -> tuple[float, float]:
    """The KS statistic and the Wasserstein-1 distance from the merged ECDFs, in one sort.

    Rows are sorted by value with one running sum of n_cur per reference value and -n_ref per
    current value, so at the last row of each run of equal values it is
    S = n_ref n_cur (F_ref - F_cur) exactly, in integers (one window aggregate, not two). Then
    KS = max |S| / (n_ref n_cur) over those rows and W1 = sum |S| (x_next - x) / (n_ref n_cur);
    the other rows of a run have x_next = x and add nothing. SciPy forms the same terms as
    count / n per side, so the two agree to a few units in the last place.
    """
    sql = f"""
WITH u AS (
    SELECT CAST(v AS DOUBLE) AS v, c * $n2 AS s FROM ({reference.source})
    UNION ALL
    SELECT CAST(v AS DOUBLE) AS v, -c * $n1 AS s FROM ({current.source})
), w AS (
    SELECT v, CAST(sum(s) OVER o AS DOUBLE) AS s, lead(v) OVER o AS nx
    FROM u
    WINDOW o AS (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT max(abs(s)) FILTER (WHERE nx IS NULL OR nx <> v),
       coalesce(fsum(abs(s) * (nx - v)) FILTER (WHERE nx <> v), 0.0)
FROM w
"""
    scale = float(reference.n) * float(current.n)
    params = {"n1": reference.n, "n2": current.n}
    ks, w1 = con.execute(sql, params).fetchall()[0]
    return float(ks) / scale, float(w1) / scale


def sturges_edges(low: float, high: float, size: int, integer: bool) -> np.ndarray:
    """`np.histogram_bin_edges(both_sides, bins='sturges')` from the range, size and dtype alone.

    The edges depend on nothing else, so NumPy is asked directly with a stand-in array of the
    same size, dtype, min and max: bit-identical edges without the data.
    """
    dtype = np.int64 if integer else np.float64
    stand_in = np.full(size, high, dtype=dtype)
    stand_in[0] = low
    return np.histogram_bin_edges(stand_in, bins="sturges")


def histogram_counts(con: duckdb.DuckDBPyConnection, side: Side, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` as one GROUP BY.

    The bin is estimated arithmetically, then moved by one where the estimate and the exact edge
    comparisons disagree (a value on an edge), so every value lands where NumPy's
    `searchsorted` puts it: bin i holds edges[i] <= x < edges[i+1], the last bin is closed.
    """
    n_bins = len(edges) - 1
    sql = f"""
SELECT b, sum(c)::BIGINT FROM (
    SELECT c, est
        - CASE WHEN x < list_extract($edges, est + 1) THEN 1 ELSE 0 END
        + CASE WHEN est + 1 < $nb AND x >= list_extract($edges, est + 2) THEN 1 ELSE 0 END AS b
    FROM (
        SELECT c, x, least(greatest(CAST(floor((x - $lo) / $span * $nb) AS BIGINT), 0), $nb - 1)
            AS est
        FROM (SELECT CAST(v AS DOUBLE) AS x, c FROM ({side.source}))
    )
) GROUP BY b
"""
    params = {
        "edges": [float(e) for e in edges],
        "nb": n_bins,
        "lo": float(edges[0]),
        "span": float(edges[-1] - edges[0]),
    }
    counts = np.zeros(n_bins, dtype=np.int64)
    for index, count in con.execute(sql, params).fetchall():
        counts[int(index)] = int(count)
    return counts


def _binned_counts(
    con: duckdb.DuckDBPyConnection, reference: Side, current: Side
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's bins: Sturges over both sides for rich numbers, otherwise value by value."""
    if reference.kind == NUMERICAL and reference.distinct > HISTOGRAM_MIN_UNIQUE:
        edges = sturges_edges(
            min(reference.low, current.low),
            max(reference.high, current.high),
            reference.n + current.n,
            reference.integer and current.integer,
        )
        return histogram_counts(con, reference, edges), histogram_counts(con, current, edges)
    return binned_counts(_sample(con, reference), _sample(con, current))


def _score(con: duckdb.DuckDBPyConnection, method: str, reference: Side, current: Side) -> float:
    if method in ("ks", "wasserstein"):
        ks, w1 = ecdf_distances(con, reference, current)
        if method == "ks":
            return ks_p_value_from_statistic(ks, reference.n, current.n)
        return w1 / max(reference.std, 0.001)
    if method in ("jensenshannon", "psi"):
        counts = _binned_counts(con, reference, current)
        if method == "psi":
            return psi_from_counts(*counts)
        return jensenshannon_from_counts(*counts)
    if method == "chisquare":
        return chisquare_p_value(_sample(con, reference), _sample(con, current))
    return z_p_value(_sample(con, reference), _sample(con, current))


def column_row(
    con: duckdb.DuckDBPyConnection,
    reference: Side,
    current: Side,
    method: str | None,
    threshold: float | None,
) -> dict[str, object]:
    """One column's row of the table, as `methods.run_test` and `psi_or_none` would give it."""
    if method is None:
        method = method_for(reference.kind, reference.n, _n_values(con, reference, current))
    threshold = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
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
    score = _score(con, method, reference, current)
    row["psi"] = score if method == "psi" else _score(con, "psi", reference, current)
    if not math.isnan(score):
        row["statistic"] = score
        row["p_value"] = score if method in P_VALUE_METHODS else None
        row["drifted"] = is_drifted(method, score, threshold)
    return row


# --- the table -------------------------------------------------------------------------------


def build_reference_profile_sql(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, reference_relation: str
) -> SqlReferenceProfile:
    """Profile the reference once, in temp tables of `con`; `drop_reference_profile` frees them.

    Also rejects method overrides and settings that cannot apply, before any day is computed.
    """
    relation = relation_sql(reference_relation)
    types = _column_types(con, relation)
    kinds = drift_columns(model, has_score="score" in types)
    check_settings(model, kinds)
    prefix = f"_drift_ref_{uuid.uuid4().hex[:12]}"
    columns: dict[str, Side] = {}
    tables: list[str] = []
    for i, (column, kind) in enumerate(kinds.items()):
        table = f"{prefix}_{i}"
        tables.append(table)
        columns[column] = _reference_side(con, relation, column, kind, types.get(column), table)
    return SqlReferenceProfile(model.model_id, kinds, columns, tables)


def drop_reference_profile(con: duckdb.DuckDBPyConnection, profile: SqlReferenceProfile) -> None:
    for table in profile.tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


@contextmanager
def reference_profile_sql(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, reference_relation: str
) -> Iterator[SqlReferenceProfile]:
    """`build_reference_profile_sql` whose temp tables are dropped on leaving the block."""
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
    reference is profiled for this call and dropped afterwards.
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
        day_rows = []
        for column, kind in columns.items():
            reference = profile.columns.get(column) or Side(kind, _EMPTY)
            side = _current_side(con, current, day, column, kind, types.get(column))
            row = column_row(
                con,
                reference,
                side,
                model.drift.methods.get(column),
                model.drift.thresholds.get(column),
            )
            day_rows.append({"column": column, **row})
        for row in finish_day(day_rows, model):
            rows.append(
                {"model_id": model.model_id, "date": day, "reference_kind": reference_kind, **row}
            )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS).astype(_DTYPES)


def configure_spilling(
    con: duckdb.DuckDBPyConnection, temp_directory: str, memory_limit: str | None = None
) -> None:
    """Let big sorts and hash tables spill to `temp_directory` instead of failing."""
    con.execute(f"SET temp_directory = {quote_literal(temp_directory)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
