"""The review strata rank only the rows that can make their cut; the picks must be those of
ranking every row, ties at the cut, null keys and small groups included."""

from __future__ import annotations

import duckdb
import pytest

from perf_pipeline.review.sample import _candidates

# Keys with many ties (a tenth of the values), some nulls, and days of 3 to 400 rows.
_ROWS = """
    CREATE TABLE rows AS
    SELECT DATE '2026-09-01' + CAST(i % 4 AS INTEGER) AS date,
           i % 3 AS segment_rank,
           'id-' || lpad(CAST((i * 7919) % 1000 AS VARCHAR), 4, '0') AS prediction_id,
           CASE WHEN i % 11 = 0 THEN NULL ELSE CAST((i * 37) % 10 AS DOUBLE) / 10 END AS key
    FROM range(1000) AS t(i)
    WHERE i % 4 <> 3 OR i < 12
"""


def _ranked(con: duckdb.DuckDBPyConnection, source: str, groups: str, order: str) -> list:
    return con.execute(
        f"SELECT {groups}, prediction_id, row_number() OVER "
        f"(PARTITION BY {groups} ORDER BY {order}, prediction_id) AS rank "
        f"FROM ({source}) ORDER BY ALL"
    ).fetchall()


@pytest.mark.parametrize("groups", ["date", "date, segment_rank"])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("k", [1, 5, 40, 500])
def test_candidates_rank_as_all_rows_do(groups: str, desc: bool, k: int) -> None:
    con = duckdb.connect()
    con.execute(_ROWS)
    order = "key DESC" if desc else "key"
    every = [r for r in _ranked(con, "SELECT * FROM rows", groups, order) if r[-1] <= k]
    cut = _candidates("SELECT * FROM rows", "key", k, groups, desc=desc)
    picked = [r for r in _ranked(con, cut, groups, order) if r[-1] <= k]
    assert picked == every
    # The candidates are few: the cut, its ties, and the groups too small to cut.
    if k == 1:
        assert con.execute(f"SELECT count(*) FROM ({cut})").fetchone()[0] < 400
