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

Which arrival days hold such labels is looked up in an index beside the notes (`index/`), so a
run opens the files of those days only, not one quarantine and one labels file per day of
history: the trimmed ids of the `unknown_prediction_id` labels per arrival day, and each arrival
day's latest `prediction_date`. The index only names candidate days; the candidates' own files
are then read with the same conditions as before, so an index naming too many days changes
nothing, and it must never name too few. Hence each labels run, under a lock, *adds* its days'
rows before it writes its partitions (a run that dies after writing leaves a superset), and
*replaces* them with exactly its rows after. A lake written before the index existed is read
whole until a labels run has built the index from every file once (`complete`).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import duckdb

from perf_pipeline.file_lock import exclusive_lock
from perf_pipeline.lake import day_files, has_files, read_files_sql, read_table_sql, table_glob
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_literal

UNKNOWN_PREDICTION_ID = "unknown_prediction_id"
_NOTES = "_labels_recheck"
# The index's two tables (file stem -> columns) and the mark of an index built from every file.
_UNKNOWN = "unknown_ids"
_DATES = "prediction_dates"
_COLUMNS = {
    _UNKNOWN: (("date", "DATE"), ("prediction_id", "VARCHAR")),
    _DATES: (("date", "DATE"), ("last_day", "DATE")),
}
_COMPLETE = "complete"
# A quarantined label's id, as the recheck compares it with the accepted ones.
_QUARANTINED_ID = "trim(json_extract_string(record, '$.prediction_id'))"


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


def _index_dir(paths: DataPaths, model_id: str) -> Path:
    return _notes_dir(paths, model_id) / "index"


def _index_file(paths: DataPaths, model_id: str, name: str) -> Path:
    return _index_dir(paths, model_id) / f"{name}.parquet"


def _index_complete(paths: DataPaths, model_id: str) -> bool:
    return (_index_dir(paths, model_id) / _COMPLETE).exists()


def _read_index(paths: DataPaths, model_id: str, name: str) -> str:
    """A FROM-clause expression over one index table (no rows when it has no file yet)."""
    file = _index_file(paths, model_id, name)
    if file.exists():
        return f"read_parquet({quote_literal(paths.for_duckdb(file))}, hive_partitioning = false)"
    columns = ", ".join(f"NULL::{kind} AS {column}" for column, kind in _COLUMNS[name])
    return f"(SELECT {columns} WHERE false)"


def _candidate_files(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model_id: str,
    table: str,
    index_query: str,
    file_name: str,
) -> list[str]:
    """The files of `table` on the arrival days `index_query` (one column of days) names."""
    days = [day for (day,) in con.execute(index_query).fetchall()]
    return day_files(paths, table, model_id, days, file_name)


def _quarantine_source(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str
) -> str | None:
    """The quarantined labels that can hold an id of `changed_predictions`: those of the days
    the index names for these ids, or every day's while there is no complete index."""
    if not _index_complete(paths, model_id):
        if not any(paths.table_dir("quarantine").glob(f"model={model_id}/*/labels.parquet")):
            return None
        glob = quote_literal(table_glob(paths, "quarantine", model_id, "labels"))
        return f"read_parquet({glob}, hive_partitioning = false)"
    files = _candidate_files(
        con,
        paths,
        model_id,
        "quarantine",
        f"SELECT DISTINCT date FROM {_read_index(paths, model_id, _UNKNOWN)} "
        "WHERE prediction_id IN (SELECT prediction_id FROM changed_predictions)",
        "labels.parquet",
    )
    listed = ", ".join(quote_literal(f) for f in files)
    return f"read_parquet([{listed}], hive_partitioning = false)" if files else None


def _now_known_days(con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str) -> set:
    """Arrival days holding a label quarantined for an unknown id that a noted day accepts."""
    source = _quarantine_source(con, paths, model_id)
    if source is None:
        return set()
    rows = con.execute(
        f"""
        SELECT DISTINCT date FROM {source}
        WHERE reason = '{UNKNOWN_PREDICTION_ID}'
          AND {_QUARANTINED_ID} IN (SELECT prediction_id FROM changed_predictions)
        """
    ).fetchall()
    return {day for (day,) in rows}


def _labels_source(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, since: dt.date
) -> str | None:
    """The accepted labels that can have a `prediction_date` on or after `since`: those of the
    days the index names, or every day's while there is no complete index."""
    if not _index_complete(paths, model_id):
        return (
            read_table_sql(paths, "labels", model_id)
            if has_files(paths, "labels", model_id)
            else None
        )
    files = _candidate_files(
        con,
        paths,
        model_id,
        "labels",
        f"SELECT date FROM {_read_index(paths, model_id, _DATES)} "
        f"WHERE last_day >= DATE {quote_literal(since.isoformat())}",
        "*.parquet",
    )
    return read_files_sql(files) if files else None


def _moved_or_gone_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, noted: list[dt.date]
) -> set:
    """Arrival days holding an accepted label whose prediction a noted day dropped or took
    over from a later day."""
    source = _labels_source(con, paths, model_id, min(noted))
    if source is None:
        return set()
    noted_list = ", ".join(f"DATE {quote_literal(d.isoformat())}" for d in noted)
    rows = con.execute(
        f"""
        WITH first_changed AS (
            SELECT prediction_id, min(date) AS first_day FROM changed_predictions GROUP BY 1
        )
        SELECT DISTINCT l.date
        FROM {source} AS l
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


def _lock(paths: DataPaths, model_id: str) -> Path:
    """Beside the notes when the root is local; in the local state folder when it is not."""
    return paths.state / "warehouse" / _NOTES / f".{model_id}.lock"


def _run_rows(con: duckdb.DuckDBPyConnection) -> None:
    """`_run_unknown` and `_run_dates`: the index rows of the run's `quarantined_labels` and
    `accepted_labels` (the tables the labels ingest is about to write)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _run_{_UNKNOWN} AS "
        f"SELECT DISTINCT date, {_QUARANTINED_ID} AS prediction_id FROM quarantined_labels "
        f"WHERE reason = '{UNKNOWN_PREDICTION_ID}' AND {_QUARANTINED_ID} IS NOT NULL"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _run_{_DATES} AS "
        "SELECT date, max(prediction_date) AS last_day FROM accepted_labels GROUP BY date"
    )


def _write_index(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, name: str, query: str
) -> None:
    """Replace one index table with `query`'s rows, atomically."""
    target = _index_file(paths, model_id, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(target)
    spelled = str(staged) if paths.is_remote else paths.for_duckdb(staged)
    try:
        con.execute(f"COPY ({query} ORDER BY ALL) TO {quote_literal(spelled)} (FORMAT parquet)")
        commit(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def _merged(paths: DataPaths, model_id: str, name: str, kept: str) -> str:
    """The index table `name`: its stored rows that `kept` (a condition) keeps, with the run's
    rows; an arrival day's latest prediction day is the latest of the two."""
    stored = f"SELECT * FROM {_read_index(paths, model_id, name)} WHERE {kept}"
    union = f"{stored} UNION ALL SELECT * FROM _run_{name}"
    if name == _UNKNOWN:
        return f"SELECT DISTINCT * FROM ({union})"
    return f"SELECT date, max(last_day) AS last_day FROM ({union}) GROUP BY date"


def index_before_write(con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str) -> None:
    """Add the run's rows to the index before its partitions are written (see the module)."""
    _run_rows(con)
    with exclusive_lock(_lock(paths, model_id)):
        for name in (_UNKNOWN, _DATES):
            _write_index(con, paths, model_id, name, _merged(paths, model_id, name, "true"))


def _full_rows(con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str) -> None:
    """The index rows of every file of the lake, in place of the run's (building the index)."""
    quarantine = _quarantine_source(con, paths, model_id)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _run_{_UNKNOWN} AS "
        + (
            f"SELECT DISTINCT date, {_QUARANTINED_ID} AS prediction_id FROM {quarantine} "
            f"WHERE reason = '{UNKNOWN_PREDICTION_ID}' AND {_QUARANTINED_ID} IS NOT NULL"
            if quarantine
            else "SELECT NULL::DATE AS date, NULL::VARCHAR AS prediction_id WHERE false"
        )
    )
    labels = (
        read_table_sql(paths, "labels", model_id) if has_files(paths, "labels", model_id) else None
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _run_{_DATES} AS "
        + (
            f"SELECT date, max(prediction_date) AS last_day FROM {labels} GROUP BY date"
            if labels
            else "SELECT NULL::DATE AS date, NULL::DATE AS last_day WHERE false"
        )
    )


def index_after_write(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date]
) -> None:
    """Make the index rows of `days` exactly the run's, now that its partitions are written;
    without a complete index yet, build it from every file (keeping the rows other runs added)."""
    listed = ", ".join(f"DATE {quote_literal(d.isoformat())}" for d in days)
    with exclusive_lock(_lock(paths, model_id)):
        complete = _index_complete(paths, model_id)
        if complete:
            _run_rows(con)
        else:
            _full_rows(con, paths, model_id)
        kept = f"date NOT IN ({listed})" if complete and days else "true"
        for name in (_UNKNOWN, _DATES):
            _write_index(con, paths, model_id, name, _merged(paths, model_id, name, kept))
        if not complete:
            (_index_dir(paths, model_id) / _COMPLETE).write_text("", encoding="utf-8")
