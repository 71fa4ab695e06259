"""Repeated prediction ids, judged the same whatever order the days are ingested in.

A row is a `duplicate_prediction_id` when an earlier *valid* row (one no other rule rejects)
carries the same id: earlier in the same day (file order, then row order), or on one of the
`duplicate_window_days` days before. Whether a row is valid depends on that row alone, so this
rule depends on the landing zone alone, not on which days happened to be ingested first: one run
of days 1-3 and runs of day 3, then 1, then 2 store the same rows.

The valid rows of the days around a run are read back from the lake (accepted rows, plus rows
quarantined as duplicates). A day ingested earlier whose verdict the run changes (day 3 was
ingested before day 1, and day 1 holds the same id) is *stale*: the caller ingests it again in
the same run, and judges again with the stale days added, until no day is stale.

How far that goes. A stale day lies at most `window` days after the run's last day. Judging it
again reads its landing files; when they are the files it was last ingested from, its valid ids
are the ones the lake already holds (validity is row-local), so it makes no further day stale:
one extra pass, reading at most `window` days before the run and `2 * window` after it. When its
files changed since it was last ingested (edited without a re-run), its new valid ids can make a
day within `window` after it stale in turn, and so on: each pass adds at least one stored day
later than the last, so the chain ends, at the latest at the model's last stored day. Bounding
it sooner would leave those days judged against ids their landing files no longer hold.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.ingest.landing import DAY, FILE_INDEX, ROW_NUMBER
from perf_pipeline.ingest.rules import INTERNAL_PREFIX, REASON
from perf_pipeline.lake import day_files, read_files_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q

DUPLICATE = "duplicate_prediction_id"
_NEIGHBOUR = f"{INTERNAL_PREFIX}neighbour"
_WAS_DUPLICATE = f"{INTERNAL_PREFIX}was_duplicate"
_IS_DUPLICATE = f"{INTERNAL_PREFIX}is_duplicate"


def neighbour_days(days: list[dt.date], window: int) -> list[dt.date]:
    """Days outside the run whose valid ids can make, or be made, duplicates by the run's."""
    if not days or window == 0:
        return []
    first, last = min(days) - dt.timedelta(days=window), max(days) + dt.timedelta(days=window)
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in span if d not in set(days)]


def load_neighbour_ids(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date]
) -> str:
    """A relation of the valid ids stored for `days`: (id, day, was_duplicate)."""
    parts = ["SELECT NULL::VARCHAR AS id, NULL::DATE AS day, NULL::BOOLEAN AS was_duplicate "]
    parts[0] += "WHERE false"
    accepted = day_files(paths, "predictions", model_id, days)
    if accepted:
        parts.append(
            f"SELECT prediction_id, date, false FROM {read_files_sql(accepted)} "
            "WHERE prediction_id IS NOT NULL"
        )
    quarantined = day_files(paths, "quarantine", model_id, days, "predictions.parquet")
    if quarantined:
        parts.append(
            "SELECT trim(json_extract_string(record, '$.prediction_id')), date, true "
            f"FROM {read_files_sql(quarantined)} WHERE reason = '{DUPLICATE}'"
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE neighbour_ids AS {' UNION ALL '.join(parts)}")
    return "neighbour_ids"


def mark_duplicates(
    con: duckdb.DuckDBPyConnection,
    first_pass: str,
    neighbours: str,
    window: int,
    run_start: dt.date,
    target: str,
) -> list[dt.date]:
    """`target` := `first_pass` with duplicates marked; returns the stale neighbour days.

    Only neighbours after the run's first day can be judged again: the window of an earlier
    one reaches days that were not read.
    """
    order = f"{q(DAY)}, {q(FILE_INDEX)}, {q(ROW_NUMBER)}, {q(_WAS_DUPLICATE)}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE duplicate_check AS
        WITH combined AS (
            SELECT *, false AS {q(_NEIGHBOUR)}, false AS {q(_WAS_DUPLICATE)} FROM {first_pass}
            UNION ALL BY NAME
            SELECT id AS prediction_id, day AS {q(DAY)}, -1 AS {q(FILE_INDEX)},
                   -1 AS {q(ROW_NUMBER)}, true AS {q(_NEIGHBOUR)},
                   was_duplicate AS {q(_WAS_DUPLICATE)}
            FROM {neighbours}
        )
        SELECT *, {q(REASON)} IS NULL AND coalesce(lag({q(DAY)}) OVER (
                PARTITION BY trim(prediction_id), {q(REASON)} IS NULL ORDER BY {order}
            ) >= {q(DAY)} - {int(window)}, false) AS {q(_IS_DUPLICATE)}
        FROM combined
        """
    )
    stale = con.execute(
        f"SELECT DISTINCT {q(DAY)} FROM duplicate_check WHERE {q(_NEIGHBOUR)} "
        f"AND {q(DAY)} > $start "
        f"AND {q(_IS_DUPLICATE)} IS DISTINCT FROM {q(_WAS_DUPLICATE)} ORDER BY 1",
        {"start": run_start},
    ).fetchall()
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        SELECT * EXCLUDE ({q(_NEIGHBOUR)}, {q(_WAS_DUPLICATE)}, {q(_IS_DUPLICATE)}) REPLACE (
            CASE WHEN {q(_IS_DUPLICATE)} THEN '{DUPLICATE}' ELSE {q(REASON)} END AS {q(REASON)}
        )
        FROM duplicate_check WHERE NOT {q(_NEIGHBOUR)}
        """
    )
    return [day for (day,) in stale]
