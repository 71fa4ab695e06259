"""Filled-in review files back into the lake: `review_labels` (`source = 'review'`).

A person drops the files they filled in into `<data root>/review/returned/<model>/`, keeping the
name the queue gave them (`<day>.csv`; anything after the day may be added, as in
`2026-09-03.alice.csv`): the day in the name is the review day the rows belong to. Each review
day is ingested as a whole, from all its returned files (in name order; for one prediction the
last file's label wins), into `review_labels/model=<id>/date=<review day>/` and the day's
`quarantine/.../review.parquet`. Re-ingesting replaces those files, so the same file never adds
rows twice; a day is re-read only when its set of files, their sizes or times changed
(a manifest under `warehouse/_review_returned/` remembers what was read).

Rows left blank in `reviewed_label` are skipped (a person did not get to them); a label that
is not usable is quarantined with the same reasons as a logged label, suffixed with the column
(`unknown_label_class:reviewed_label`), its file and row named in the quarantine row. A row
for a prediction the lake does not hold is `unknown_prediction_id`. A file that cannot be read
at all (no `prediction_id` or `reviewed_label` column, not UTF-8, ...) leaves its day as it
was and is reported; the day is tried again on the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.labels import label_rules, label_value
from perf_pipeline.ingest.landing import (
    BROKEN,
    DAY,
    FILE_INDEX,
    RAW_LINE,
    ROW_NUMBER,
    SOURCE_FILE,
)
from perf_pipeline.ingest.readers import TextFile, UnreadableFileError, read_text_file
from perf_pipeline.ingest.rules import (
    BROKEN_ROW_RULES,
    REASON,
    blank,
    first_failing,
    quarantine_select,
    too_long_rules,
)
from perf_pipeline.lake import (
    day_files,
    has_files,
    read_files_sql,
    read_table_sql,
    write_partitions,
)
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.review.sample import LABEL_COLUMN, REASON_COLUMN
from perf_pipeline.schemas import LABEL_SOURCE_REVIEW
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

REQUIRED = ["prediction_id", LABEL_COLUMN]
KNOWN = [*REQUIRED, REASON_COLUMN]
_ARRIVAL = "__review@arrival_date"


@dataclass
class ReturnedResult:
    """What one pass over the returned folder did."""

    days: list[dt.date] = field(default_factory=list)
    accepted: dict[dt.date, int] = field(default_factory=dict)
    quarantined: dict[dt.date, int] = field(default_factory=dict)
    blank: dict[dt.date, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def returned_folder(paths: DataPaths, model_id: str) -> Path:
    return paths.root / "review" / "returned" / model_id


def _manifest_path(paths: DataPaths, model_id: str) -> Path:
    return paths.warehouse / "_review_returned" / f"model={model_id}" / "manifest.json"


def _files_by_day(folder: Path, result: ReturnedResult) -> dict[dt.date, list[Path]]:
    """Returned files by the review day their name starts with; others are reported."""
    found: dict[dt.date, list[Path]] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith((".", "_")):
            continue  # hidden and marker files, as in the landing zone
        if path.is_symlink() or not path.is_file():
            result.skipped.append(f"{path}: not a regular file")
            continue
        try:
            day = dt.date.fromisoformat(path.name[:10])
        except ValueError:
            result.skipped.append(f"{path}: name must start with the review day (YYYY-MM-DD)")
            continue
        found.setdefault(day, []).append(path)
    return found


def _fingerprint(files: list[Path]) -> str:
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return json.dumps(stats)


def _read_manifest(paths: DataPaths, model_id: str) -> dict[str, str]:
    path = _manifest_path(paths, model_id)
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def _write_manifest(paths: DataPaths, model_id: str, manifest: dict[str, str]) -> None:
    path = _manifest_path(paths, model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(path)
    staged.write_text(json.dumps(manifest, sort_keys=True), encoding="utf-8")
    commit(staged, path)


def _conform(file: TextFile, day: dt.date, index: int) -> pa.Table:
    """The file's known columns (absent ones null) and the bookkeeping, all days alike."""
    n, present = file.num_rows, file.columns.column_names
    arrival = dt.datetime.fromtimestamp(file.path.stat().st_mtime, dt.UTC).date()
    columns = {c: file.columns[c] if c in present else pa.nulls(n, pa.string()) for c in KNOWN}
    columns.update(
        {
            RAW_LINE: file.raw_lines,
            BROKEN: file.broken,
            SOURCE_FILE: pa.repeat(pa.scalar(str(file.path), pa.string()), n),
            ROW_NUMBER: file.row_numbers,
            DAY: pa.repeat(pa.scalar(day, pa.date32()), n),
            FILE_INDEX: pa.repeat(pa.scalar(index, pa.int32()), n),
            _ARRIVAL: pa.repeat(pa.scalar(arrival, pa.date32()), n),
        }
    )
    return pa.table(columns)


def _read_day(day: dt.date, files: list[Path]) -> list[pa.Table]:
    """Every file of a review day, or UnreadableFileError naming the file that failed."""
    tables = []
    for index, path in enumerate(files):
        file = read_text_file(path)
        present = file.columns.column_names
        missing = [c for c in REQUIRED if c not in present]
        if present and missing:
            raise UnreadableFileError(path, f"missing required column(s) {missing}")
        tables.append(_conform(file, day, index))
    return tables


def _rules(model: ModelConfig) -> list[tuple[str, str]]:
    """Why a filled-in row cannot be used; label reasons name the column they judged."""
    label = [(cond, f"{why}:{LABEL_COLUMN}") for cond, why in label_rules(model, LABEL_COLUMN)]
    return [
        *BROKEN_ROW_RULES,
        (blank(q("prediction_id")), "null_prediction_id"),
        *too_long_rules(["prediction_id"]),
        *label,
        ("known.prediction_date IS NULL", "unknown_prediction_id"),
    ]


def _stage_known(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """`review_known` (prediction_id, prediction_date) and `review_strata` (date,
    prediction_id, stratum) for the returned ids only."""
    ids = "SELECT trim(prediction_id) FROM raw_review"
    if has_files(paths, "predictions", model.model_id):
        source = read_table_sql(paths, "predictions", model.model_id)
        known = f"SELECT prediction_id, min(date) AS prediction_date FROM {source} "
        known += f"WHERE prediction_id IN ({ids}) GROUP BY prediction_id"
    else:
        known = "SELECT NULL::VARCHAR AS prediction_id, NULL::DATE AS prediction_date WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP TABLE review_known AS {known}")
    files = day_files(paths, "review_sample", model.model_id, days)
    strata = (
        f"SELECT date, prediction_id, stratum FROM {read_files_sql(files)}"
        if files
        else (
            "SELECT NULL::DATE AS date, NULL::VARCHAR AS prediction_id, NULL::VARCHAR AS stratum "
            "WHERE false"
        )
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE review_strata AS {strata}")


def _judge(con: duckdb.DuckDBPyConnection, model: ModelConfig) -> None:
    """`judged_review`: filled-in rows (and broken ones) with their reason, NULL if usable."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE judged_review AS
        WITH first_pass AS (
            SELECT r.*, known.prediction_date, {first_failing(_rules(model))} AS {q(REASON)}
            FROM raw_review AS r
            LEFT JOIN (
                SELECT prediction_id AS known_id, prediction_date FROM review_known
            ) AS known ON known.known_id = trim(r.prediction_id)
            WHERE r.{q(BROKEN)} IS NOT NULL OR NOT {blank(f"r.{q(LABEL_COLUMN)}")}
        )
        SELECT * REPLACE (
            CASE WHEN {q(REASON)} IS NULL AND row_number() OVER (
                PARTITION BY {q(DAY)}, trim(prediction_id), {q(REASON)} IS NULL
                ORDER BY {q(FILE_INDEX)} DESC, {q(ROW_NUMBER)} DESC
            ) > 1 THEN 'superseded_by_later_label' ELSE {q(REASON)} END AS {q(REASON)}
        )
        FROM first_pass
        """
    )


def _write(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> tuple[dict[dt.date, int], dict[dt.date, int]]:
    order = f"{q(DAY)}, {q(FILE_INDEX)}, {q(ROW_NUMBER)}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE accepted_review AS
        SELECT {quote_literal(model.model_id)} AS model_id, j.{q(DAY)} AS date,
               trim(j.prediction_id) AS prediction_id,
               {label_value(model, LABEL_COLUMN)} AS label,
               NULL::TIMESTAMPTZ AS label_timestamp, j.{q(_ARRIVAL)} AS arrival_date,
               j.prediction_date, j.{q(SOURCE_FILE)} AS source_file,
               {quote_literal(LABEL_SOURCE_REVIEW)} AS source, s.stratum
        FROM judged_review AS j
        LEFT JOIN review_strata AS s
          ON s.date = j.{q(DAY)} AND s.prediction_id = trim(j.prediction_id)
        WHERE j.{q(REASON)} IS NULL ORDER BY {order}
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE quarantined_review AS SELECT "
        f"{quarantine_select(model.model_id, LABEL_SOURCE_REVIEW, KNOWN, q(DAY))} "
        f"FROM judged_review WHERE {q(REASON)} IS NOT NULL ORDER BY {order}"
    )
    accepted = write_partitions(
        con, paths, "review_labels", model.model_id, "accepted_review", days
    )
    quarantined = write_partitions(
        con, paths, "quarantine", model.model_id, "quarantined_review", days, "review.parquet"
    )
    return accepted, quarantined


def _load(
    days: dict[dt.date, list[Path]], result: ReturnedResult
) -> tuple[list[dt.date], list[pa.Table]]:
    """The days whose files all read, and their rows; the others are reported in `result`."""
    readable, tables = [], []
    for day, files in sorted(days.items()):
        try:
            tables.extend(_read_day(day, files))
        except UnreadableFileError as exc:
            result.errors.append(str(exc))
            continue
        readable.append(day)
    return readable, tables


def ingest_returned(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> ReturnedResult:
    """Ingest the review days whose returned files changed since the last pass."""
    result = ReturnedResult()
    by_day = _files_by_day(returned_folder(paths, model.model_id), result)
    manifest = _read_manifest(paths, model.model_id)
    current = {d.isoformat(): _fingerprint(files) for d, files in by_day.items()}
    changed = {
        dt.date.fromisoformat(d): by_day.get(dt.date.fromisoformat(d), [])
        for d in {*manifest, *current}
        if manifest.get(d) != current.get(d)
    }
    days, tables = _load(changed, result)
    if not days:
        return result
    if tables:
        con.register("raw_review", pa.concat_tables(tables))
    else:
        con.register("raw_review", _conform_empty())
    _stage_known(con, paths, model, days)
    _judge(con, model)
    result.days = days
    result.accepted, result.quarantined = _write(con, paths, model, days)
    result.blank = dict(
        con.execute(
            f"SELECT {q(DAY)}, count(*) FROM raw_review WHERE {q(BROKEN)} IS NULL "
            f"AND {blank(q(LABEL_COLUMN))} GROUP BY ALL"
        ).fetchall()
    )
    for day in days:
        key = day.isoformat()
        manifest.pop(key, None)
        if key in current:
            manifest[key] = current[key]
    _write_manifest(paths, model.model_id, manifest)
    return result


def _conform_empty() -> pa.Table:
    """No rows, the shape `_conform` gives (every returned file of the days was removed)."""
    schema = pa.schema(
        [pa.field(c, pa.string()) for c in [*KNOWN, RAW_LINE, BROKEN, SOURCE_FILE]]
        + [
            pa.field(ROW_NUMBER, pa.int64()),
            pa.field(DAY, pa.date32()),
            pa.field(FILE_INDEX, pa.int32()),
            pa.field(_ARRIVAL, pa.date32()),
        ]
    )
    return schema.empty_table()
