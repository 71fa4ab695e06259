"""A day's accepted predictions as the pandas frame Great Expectations validates, built cheaply.

Only the columns the suite reads, built by Arrow (text as categories, one block per column),
and the prediction ids as integer codes when the suite compares ids only for presence and
equality: a bijective code gives those checks exactly the outcome the ids give, at a fraction
of the cost (a million distinct ids as a pandas category cost more than the rest of the day).
The checks' sample values are turned back into ids, so the `data_quality` rows are unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import day_files, read_files_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.suite import SCORE_SUM_COLUMN, ExpectationSpec
from perf_pipeline.sql import quote_identifier as q

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from perf_pipeline.quality.gx_runner import ExpectationOutcome

ID = "prediction_id"
# Expectations whose outcome depends on the values' nullness and equality alone.
_EQUALITY_ONLY = frozenset({"ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeUnique"})


@dataclass(frozen=True)
class DayFrame:
    """The frame to validate; `id_values[code]` is the id behind a code when ids are coded."""

    frame: pd.DataFrame
    id_values: pa.Array | None = None

    def decoded(self, outcome: ExpectationOutcome) -> ExpectationOutcome:
        """`outcome` with the sample values of an id check as ids again."""
        if self.id_values is None or ID not in outcome.spec.columns:
            return outcome
        ids = [None if v is None else self.id_values[int(v)].as_py() for v in outcome.sample_values]
        return replace(outcome, sample_values=ids)


def codes_suffice(specs: list[ExpectationSpec]) -> bool:
    """Whether every expectation on the ids looks at nullness and equality only."""
    return all(s.gx_type in _EQUALITY_ONLY for s in specs if ID in s.columns)


def day_frame(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    day: dt.date,
    specs: list[ExpectationSpec],
) -> DayFrame:
    import pandas as pd

    files = day_files(paths, "predictions", model.model_id, [day])
    if not files:
        return DayFrame(pd.DataFrame({ID: pd.Series([], dtype=str)}))
    needed = {c for s in specs for c in s.columns} | {ID}
    source = read_files_sql(files)
    sums = [c for c in model.score_columns if c != "score"]
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    wanted = sorted((needed | set(sums)) & present)
    columns = ", ".join(q(c) for c in wanted)
    table = con.sql(f"SELECT {columns} FROM {source}").to_arrow_table()
    id_values = None
    if ID in table.column_names and codes_suffice(specs):
        encoded = table[ID].combine_chunks().dictionary_encode()
        id_values = encoded.dictionary
        table = table.set_column(table.column_names.index(ID), ID, encoded.indices)
    # Columns picked in Arrow, not in pandas: a pandas selection would merge the blocks again.
    frame = _compact(table.select([c for c in table.column_names if c in needed]))
    if sums:
        frame[SCORE_SUM_COLUMN] = table.select(sums).to_pandas().sum(axis=1, min_count=1)
    return DayFrame(frame, id_values)


def _compact(table: pa.Table) -> pd.DataFrame:
    """The day as pandas with text as categories, built by Arrow.

    Great Expectations' pandas engine is many times slower on object columns than on
    categoricals (a 1M-row day: ~25 s against under 2 s for the whole suite); the values and
    therefore the results are the same. Arrow encodes the text once in C++ and hands pandas one
    block per column, which Great Expectations' per-expectation row filters copy cheaply (the
    suite ran 2.5x faster on such a frame than on one converted by pandas itself).
    """
    import pyarrow as pa

    columns = [
        column.dictionary_encode() if pa.types.is_string(column.type) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names).to_pandas()
