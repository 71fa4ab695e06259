"""The review step of a run: new samples for the run's days, returned files in, the metric.

Returned files may belong to any earlier day, so every run reads whatever changed in the
returned folder, and the review metric is recomputed for the run's days and those days.
A day the gate blocked gets no sample (its file is removed); `per_day: 0` writes none either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.review.accuracy import write_review_accuracy
from perf_pipeline.review.returned import ReturnedResult, ingest_returned
from perf_pipeline.review.sample import pick_rows, write_samples
from perf_pipeline.stages.gate import usable_days


@dataclass
class ReviewOutcome:
    sampled: dict[dt.date, int]
    blocked: set[dt.date]
    returned: ReturnedResult
    accuracy: pd.DataFrame


def run_review(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> ReviewOutcome:
    usable, blocked = usable_days(con, paths, model, days)
    sampled_days = usable if model.review.enabled else []
    pick_rows(con, paths, model, sampled_days)
    sampled = write_samples(con, paths, model, days)
    returned = ingest_returned(con, paths, model)
    judged = sorted({*days, *returned.days})
    accuracy = write_review_accuracy(con, paths, model, judged)
    return ReviewOutcome(sampled, blocked, returned, accuracy)
