"""What a day's report is drawn from, read and sampled in DuckDB.

A report is for reading, not for computing the day's numbers (the `performance` and `drift`
tables do that on every row), so each side is a seeded reservoir sample of at most `MAX_ROWS`
rows: a day of ten million predictions renders as fast, and as small, as a day of twenty
thousand. The counts in the header are the day's full counts.

A run reads what its days share once (`RunReader`): a reference file set is counted and sampled
once, and the latest labels are looked up once for the predictions of all the run's days, not
once per day over the whole label history, so a day costs the same on day 30 as on day 365.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables.serving import production_rows_sql

MAX_ROWS = 20_000
SAMPLE_SEED = 0
_LABELS_TABLE = "_report_latest_labels"


@dataclass(frozen=True)
class Estimate:
    """One overall estimated metric of the day, as the `performance` table holds it."""

    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None


def _inputs_digest(
    model: ModelConfig, version: str, facts: tuple, frames: tuple[pd.DataFrame | None, ...]
) -> str:
    """sha256 of a model's settings, the report `version`, `facts` (counts, estimates) and the
    rows of `frames`."""
    import numpy as np
    from pandas.util import hash_pandas_object

    digest = hashlib.sha256(f"{version}\n{model.model_dump_json()}\n".encode())
    for fact in facts:
        digest.update(repr(fact).encode())
    for frame in frames:
        if frame is None:
            digest.update(b"none")
            continue
        digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
        # Row order from a parallel scan may differ between runs; the rows do not.
        rows = np.sort(hash_pandas_object(frame, index=False).to_numpy())
        digest.update(rows.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class DaySides:
    """What the drift section is drawn from: the day's sampled rows and its reference, with
    their full counts. Read before the labels, so the section can be drawn while they are."""

    current: pd.DataFrame
    reference: pd.DataFrame
    rows: int
    reference_rows: int
    predictions_sql: str

    def digest(self, model: ModelConfig, version: str) -> str:
        """sha256 of what the drift section is drawn from."""
        counts = (self.rows, self.reference_rows)
        return _inputs_digest(model, version, (counts,), (self.current, self.reference))


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

    def digest(self, model: ModelConfig, version: str) -> str:
        """sha256 of everything the report is drawn from: equal digests, equal reports."""
        counts = (self.rows, self.labelled_rows, self.reference_rows)
        frames = (self.current, self.labelled, self.reference)
        return _inputs_digest(model, version, (counts, self.estimates), frames)


def _sampled(con: duckdb.DuckDBPyConnection, source: str) -> tuple[pd.DataFrame, int]:
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    sample = (
        f" USING SAMPLE reservoir({MAX_ROWS} ROWS) REPEATABLE ({SAMPLE_SEED})"
        if rows > MAX_ROWS
        else ""
    )
    return con.execute(f"SELECT * FROM {source}{sample}").df(), int(rows)


# The public `labels` view's rule (latest arrival wins), over this model's files alone, so the
# label keeps the model's own type (numbers for regression, text for classes). Ranking only
# the labels of the run's predictions gives each of them the same latest label as ranking all.
_LATEST_LABELS = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT prediction_id, label FROM (
    SELECT prediction_id, label, row_number() OVER (
        PARTITION BY prediction_id ORDER BY arrival_date DESC, label_timestamp DESC NULLS LAST
    ) AS _rank
    FROM {labels}
    WHERE prediction_id IN (SELECT prediction_id FROM {predictions})
) WHERE _rank = 1 AND label IS NOT NULL
"""


class RunReader:
    """Reads the report data of a run's days, sharing what the days have in common."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        paths: DataPaths,
        model: ModelConfig,
        days: list[dt.date],
    ) -> None:
        from perf_pipeline.lake import has_files

        self.con, self.paths, self.model, self.days = con, paths, model, days
        self._file_reference: tuple[pd.DataFrame, int] | None = None
        self._has_labels = has_files(paths, "labels", model.model_id)
        self._labels_ranked = False

    def _rank_labels(self) -> None:
        """The latest label of each of the run's predictions, looked up once, when the first
        day's labelled rows are read (after its drift section could be handed out)."""
        from perf_pipeline.lake import day_files, read_table_sql

        if self._labels_ranked:
            return
        self._labels_ranked = True
        files = day_files(self.paths, "predictions", self.model.model_id, self.days)
        if files:
            self.con.execute(
                _LATEST_LABELS.format(
                    table=_LABELS_TABLE,
                    labels=read_table_sql(self.paths, "labels", self.model.model_id),
                    predictions=production_rows_sql(files, self.model),
                )
            )

    def _reference(self, day: dt.date) -> tuple[pd.DataFrame, int] | None:
        """The day's reference, sampled: the stored file set (once per run) or its window."""
        from perf_pipeline.lake import day_files, has_files, read_table_sql

        model = self.model
        if model.reference.source == "file":
            if self._file_reference is None and has_files(self.paths, "reference", model.model_id):
                source = read_table_sql(self.paths, "reference", model.model_id)
                self._file_reference = _sampled(self.con, source)
            return self._file_reference
        window = [day - dt.timedelta(days=i) for i in range(model.reference.days or 1, 0, -1)]
        files = day_files(self.paths, "predictions", model.model_id, window)
        return _sampled(self.con, production_rows_sql(files, model)) if files else None

    def _labelled_source(self, predictions: str) -> str:
        """The day's predictions that have a label, with their latest label."""
        if not self._has_labels:
            return f"(SELECT *, NULL AS label FROM {predictions} WHERE false)"
        self._rank_labels()
        return (
            f"(SELECT p.*, l.label FROM {predictions} AS p "
            f"JOIN {_LABELS_TABLE} AS l USING (prediction_id))"
        )

    def _estimates(self, day: dt.date) -> list[Estimate]:
        from perf_pipeline.lake import day_files, read_files_sql

        files = day_files(self.paths, "performance", self.model.model_id, [day])
        if not files:
            return []
        rows = self.con.execute(
            f"SELECT metric, value, ci_low, ci_high FROM {read_files_sql(files)} "
            "WHERE is_estimated AND segment_column = '__all__' ORDER BY metric"
        ).fetchall()
        return [Estimate(*row) for row in rows]

    def read_sides(self, day: dt.date) -> DaySides | None:
        """The day's sampled rows and reference, or None when it has no predictions or no
        reference to compare with."""
        from perf_pipeline.lake import day_files

        files = day_files(self.paths, "predictions", self.model.model_id, [day])
        reference = self._reference(day) if files else None
        if reference is None or reference[1] == 0:
            return None
        predictions = production_rows_sql(files, self.model)
        current, rows = _sampled(self.con, predictions)
        if rows == 0:
            return None
        return DaySides(current, reference[0], rows, reference[1], predictions)

    def complete(self, day: dt.date, sides: DaySides) -> DayData:
        """The rest of the day's data: its labelled rows and its estimates."""
        labelled, labelled_rows = _sampled(self.con, self._labelled_source(sides.predictions_sql))
        return DayData(
            current=sides.current,
            labelled=labelled,
            reference=sides.reference,
            rows=sides.rows,
            labelled_rows=labelled_rows,
            reference_rows=sides.reference_rows,
            estimates=self._estimates(day),
        )

    def read_day(self, day: dt.date) -> DayData | None:
        """The day's data, or None when it has no predictions or no reference to compare with."""
        sides = self.read_sides(day)
        return None if sides is None else self.complete(day, sides)


def read_day(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, day: dt.date
) -> DayData | None:
    """One day's data on its own (a run of several days uses one `RunReader`)."""
    return RunReader(con, paths, model, [day]).read_day(day)
