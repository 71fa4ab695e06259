"""Reading only the rows of a long history that a join on `prediction_id` can meet.

Labels are filed by the day they arrived, and a label may arrive any number of days after (or,
when an id is reused, before) its prediction's day, so no arrival day can be left out by its
name; a label's prediction can likewise be on any earlier day. What bounds the read is the ids:
a join on `prediction_id` only ever meets the rows of the ids on its other side. `ids_filter`
turns those ids into a WHERE condition: a semi-join, which keeps the result exactly what it was
over the whole table, and the ids' range as constants, which DuckDB checks against each row
group's Parquet statistics to skip the ones outside it without reading their rows (ids that
carry their day, as most do, put the other days there). DuckDB may derive such a range from the
semi-join by itself; the constants make the skipping not depend on its plan. The files' footers
are still opened, one per day (about 0.3 ms each).
"""

from __future__ import annotations

import duckdb

from perf_pipeline.sql import quote_identifier, quote_literal


def ids_filter(con: duckdb.DuckDBPyConnection, ids_sql: str, name: str) -> str:
    """A WHERE condition on `prediction_id` keeping the ids that `ids_sql` (a query of one
    column, `prediction_id`) returns; they are kept in the temp table `name` for the query
    that uses the condition. No id at all: a condition nothing passes."""
    table = quote_identifier(name)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT DISTINCT prediction_id "
        f"FROM ({ids_sql}) WHERE prediction_id IS NOT NULL"
    )
    low, high = con.execute(
        f"SELECT min(prediction_id), max(prediction_id) FROM {table}"
    ).fetchall()[0]
    if low is None:
        return "false"
    return (
        f"prediction_id BETWEEN {quote_literal(low)} AND {quote_literal(high)} "
        f"AND prediction_id IN (SELECT prediction_id FROM {table})"
    )
