"""What a day's report is drawn from, read and sampled in DuckDB.

A report is for reading, not for computing the day's numbers (the `performance` and `drift`
tables do that on every row), so each side is a seeded reservoir sample of at most `MAX_ROWS`
rows: a day of ten million predictions renders as fast, and as small, as a day of twenty
thousand. The counts in the header are the day's full counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths

MAX_ROWS = 20_000
SAMPLE_SEED = 0


@dataclass(frozen=True)
class Estimate:
    """One overall estimated metric of the day, as the `performance` table holds it."""

    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class DayData:
    """A day's sampled rows, its labelled subset, its reference and its full counts."""

    current: pd.DataFrame
    labelled: pd.DataFrame
    reference: pd.DataFrame | None
    rows: int
    labelled_rows: int
    reference_rows: int
    estimates: list[Estimate]


def sample_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """At most `MAX_ROWS` rows, the same ones on every run."""
    return frame.sample(MAX_ROWS, random_state=SAMPLE_SEED) if len(frame) > MAX_ROWS else frame


def _sampled(con: duckdb.DuckDBPyConnection, source: str, params: list) -> tuple[pd.DataFrame, int]:
    rows = con.execute(f"SELECT count(*) FROM {source}", params).fetchone()[0]
    sample = (
        f" USING SAMPLE reservoir({MAX_ROWS} ROWS) REPEATABLE ({SAMPLE_SEED})"
        if rows > MAX_ROWS
        else ""
    )
    return con.execute(f"SELECT * FROM {source}{sample}", params).df(), int(rows)


# The public `labels` view's rule (latest arrival wins), over this model's files alone, so the
# label keeps the model's own type (numbers for regression, text for classes).
_LATEST_LABELS = """
SELECT prediction_id, label FROM (
    SELECT prediction_id, label, row_number() OVER (
        PARTITION BY prediction_id ORDER BY arrival_date DESC, label_timestamp DESC NULLS LAST
    ) AS _rank
    FROM {source}
) WHERE _rank = 1 AND label IS NOT NULL
"""


def _labelled_source(paths: DataPaths, model: ModelConfig, predictions: str) -> str:
    """The day's predictions that have a label, with their latest label."""
    from perf_pipeline.lake import has_files, read_table_sql

    if not has_files(paths, "labels", model.model_id):
        return f"(SELECT *, NULL AS label FROM {predictions} WHERE false)"
    latest = _LATEST_LABELS.format(source=read_table_sql(paths, "labels", model.model_id))
    return (
        f"(SELECT p.*, l.label FROM {predictions} AS p JOIN ({latest}) AS l USING (prediction_id))"
    )


def _estimates(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, day: dt.date
) -> list[Estimate]:
    from perf_pipeline.lake import day_files, read_files_sql

    files = day_files(paths, "performance", model.model_id, [day])
    if not files:
        return []
    rows = con.execute(
        f"SELECT metric, value, ci_low, ci_high FROM {read_files_sql(files)} "
        "WHERE is_estimated AND segment_column = '__all__' ORDER BY metric"
    ).fetchall()
    return [Estimate(*row) for row in rows]


def read_day(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, day: dt.date
) -> DayData | None:
    """The day's data, or None when it has no predictions or no reference to compare with."""
    from perf_pipeline.lake import day_files, read_files_sql
    from perf_pipeline.tables.reference import reference_frame

    files = day_files(paths, "predictions", model.model_id, [day])
    reference = reference_frame(con, paths, model, day)
    if not files or reference is None or reference.empty:
        return None
    predictions = read_files_sql(files)
    current, rows = _sampled(con, predictions, [])
    if rows == 0:
        return None
    labelled, labelled_rows = _sampled(con, _labelled_source(paths, model, predictions), [])
    return DayData(
        current=current,
        labelled=labelled,
        reference=sample_frame(reference),
        rows=rows,
        labelled_rows=labelled_rows,
        reference_rows=len(reference),
        estimates=_estimates(con, paths, model, day),
    )
