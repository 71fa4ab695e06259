"""Which earlier arrival days a labels run must read again, because their predictions changed.

A stored label carries two verdicts about its prediction, made when its arrival day was
ingested: whether the prediction was known (if not, the label is quarantined as
`unknown_prediction_id`), and the prediction's day (`prediction_date`, the earliest day the id
is accepted on). Both can change only when a predictions day is written again: a fixed day
accepts a prediction at last, a changed file quarantines one or drops it, a day ingested late
takes an id over from a later day (which turns its copy into a duplicate).

So the predictions ingest *notes* every day it writes (`note_prediction_days`), and the next
labels run reads only those days' accepted ids, and only the labels those days can affect:
- quarantined `unknown_prediction_id` labels whose id is now accepted on a noted day;
- accepted labels whose `prediction_date` is a noted day that no longer accepts their id, or
  whose id is now accepted on a noted day before their `prediction_date`.
Nothing else can have changed (the days not noted hold what they held when the labels were
last judged), so the whole predictions history is never scanned for this, and of the labels
history only the labels whose `prediction_date` is on or after the first noted day are read (the
Parquet statistics skip the rest). A labels run with nothing noted reads nothing.

The notes are small files, one per predictions run and writing, under
`warehouse/_labels_recheck/model=<id>/`; a labels run deletes the notes it read once it has
written its partitions, so a failed run leaves them for the next one.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import duckdb

from perf_pipeline.lake import day_files, has_files, read_files_sql, read_table_sql, table_glob
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_literal

UNKNOWN_PREDICTION_ID = "unknown_prediction_id"
_NOTES = "_labels_recheck"


def _notes_dir(paths: DataPaths, model_id: str) -> Path:
    return paths.warehouse / _NOTES / f"model={model_id}"


def note_prediction_days(paths: DataPaths, model_id: str, days: list[dt.date]) -> None:
    """Record that the predictions of `days` were (re)written, for the next labels run.

    Written atomically under a name of its own, so concurrent runs never lose each other's.
    """
    if not days:
        return
    folder = _notes_dir(paths, model_id)
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    staged = staging_path(folder / f"{name}.json")
    staged.write_text(json.dumps(sorted({d.isoformat() for d in days})), encoding="utf-8")
    commit(staged, folder / f"{name}.json")


def noted_prediction_days(paths: DataPaths, model_id: str) -> tuple[list[dt.date], list[Path]]:
    """The prediction days noted since the last labels run, and the notes that said so."""
    notes = sorted(_notes_dir(paths, model_id).glob("*.json"))
    days = {dt.date.fromisoformat(d) for n in notes for d in json.loads(n.read_text("utf-8"))}
    return sorted(days), notes


def forget(notes: list[Path]) -> None:
    """Delete the notes a labels run has acted on (only those: newer ones wait for the next)."""
    for note in notes:
        note.unlink(missing_ok=True)


def _changed_predictions(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, noted: list[dt.date]
) -> None:
    """`changed_predictions` (prediction_id, date): what the noted days accept now."""
    files = day_files(paths, "predictions", model_id, noted, "data.parquet")
    source = f"SELECT prediction_id, date FROM {read_files_sql(files)}" if files else None
    con.execute(
        "CREATE OR REPLACE TEMP TABLE changed_predictions AS "
        + (source or "SELECT NULL::VARCHAR AS prediction_id, NULL::DATE AS date WHERE false")
    )


def _now_known_days(con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str) -> set:
    """Arrival days holding a label quarantined for an unknown id that a noted day accepts."""
    if not any(paths.table_dir("quarantine").glob(f"model={model_id}/*/labels.parquet")):
        return set()
    glob = quote_literal(table_glob(paths, "quarantine", model_id, "labels"))
    rows = con.execute(
        f"""
        SELECT DISTINCT date FROM read_parquet({glob}, hive_partitioning = false)
        WHERE reason = '{UNKNOWN_PREDICTION_ID}'
          AND trim(json_extract_string(record, '$.prediction_id'))
              IN (SELECT prediction_id FROM changed_predictions)
        """
    ).fetchall()
    return {day for (day,) in rows}


def _moved_or_gone_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, noted: list[dt.date]
) -> set:
    """Arrival days holding an accepted label whose prediction a noted day dropped or took
    over from a later day."""
    if not has_files(paths, "labels", model_id):
        return set()
    noted_list = ", ".join(f"DATE {quote_literal(d.isoformat())}" for d in noted)
    rows = con.execute(
        f"""
        WITH first_changed AS (
            SELECT prediction_id, min(date) AS first_day FROM changed_predictions GROUP BY 1
        )
        SELECT DISTINCT l.date
        FROM {read_table_sql(paths, "labels", model_id)} AS l
        LEFT JOIN changed_predictions AS same
            ON same.prediction_id = l.prediction_id AND same.date = l.prediction_date
        LEFT JOIN first_changed AS first
            ON first.prediction_id = l.prediction_id
        WHERE l.prediction_date >= DATE {quote_literal(min(noted).isoformat())}
          AND ((l.prediction_date IN ({noted_list}) AND same.prediction_id IS NULL)
               OR first.first_day < l.prediction_date)
        """
    ).fetchall()
    return {day for (day,) in rows}


def days_to_recheck(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    days: list[dt.date],
    noted: list[dt.date],
) -> list[dt.date]:
    """Arrival days outside `days` whose stored labels the `noted` prediction days changed."""
    if not noted:
        return []
    _changed_predictions(con, paths, model_id, noted)
    found = _now_known_days(con, paths, model_id) | _moved_or_gone_days(con, paths, model_id, noted)
    return sorted(found - set(days))
