"""The review-based metric of a day, on the uniform stratum only: `review_accuracy`.

Only the uniform rows are a simple random sample of the day; the least-confident and regressed
rows were chosen because they are likely wrong, so counting them would make the model look
worse than it is. A classifier gets `review_accuracy` (the share of reviewed uniform rows whose
predicted class is the reviewer's label) with a 95 % Wilson score interval; a regression model
gets `review_mae` with a 95 % Student t interval (mean ± t(0.975, n-1)·s/√n, none below two
rows). A binary classifier's predicted class is the one `performance` judges: the logged
`prediction` (with `predicted_class: logged`), the threshold where it is empty or with
`predicted_class: threshold`. Ranking models have no review metric.

`n` is the reviewed uniform rows and `uniform_sampled` the uniform rows asked for: when a person
leaves some uniform rows blank, the estimate is still unbiased only if what they skipped was
not chosen by how hard it looked, so the gap is shown beside the value. A day with returned
labels but no reviewed uniform row has its row with a NULL value and `n = 0`.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.lake import day_files, read_files_sql, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import REVIEW_ACCURACY
from perf_pipeline.sql import quote_literal

Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (what `binomtest(...).proportion_ci(
    method='wilson')` gives): it stays inside [0, 1] and is honest for small n."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(mean: float, sd: float, n: int) -> tuple[float | None, float | None]:
    if n < 2:
        return None, None
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def _correct_sql(model: ModelConfig) -> str:
    if model.task is Task.REGRESSION:
        return "abs(CAST(p.prediction AS DOUBLE) - CAST(l.label AS DOUBLE))"
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        return "CAST(p.prediction = l.label AS DOUBLE)"
    positive = quote_literal(model.binary_classes[1])
    by_threshold = f"p.score >= {float(model.decision_threshold)!r}"
    if model.predicted_class == "logged":
        predicted = f"CASE WHEN p.prediction IS NULL THEN {by_threshold} "
        predicted += f"ELSE p.prediction = {positive} END"
    else:
        predicted = by_threshold
    return f"CAST(({predicted}) = (l.label = {positive}) AS DOUBLE)"


def _day_stats(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> list[tuple]:
    """(date, n, mean, sd, uniform sampled) per day holding review labels."""
    labels = day_files(paths, "review_labels", model.model_id, days)
    samples = day_files(paths, "review_sample", model.model_id, days)
    predictions = day_files(paths, "predictions", model.model_id, days)
    if not (labels and samples and predictions):
        return []
    return con.execute(
        f"""
        WITH uniform AS (
            SELECT date, prediction_id FROM {read_files_sql(samples)} WHERE stratum = 'uniform'
        ), reviewed AS (
            SELECT l.date, {_correct_sql(model)} AS x
            FROM {read_files_sql(labels)} AS l
            JOIN uniform AS u USING (date, prediction_id)
            JOIN {read_files_sql(predictions)} AS p
              ON p.prediction_id = l.prediction_id AND p.date = l.prediction_date
        ), labelled_days AS (
            SELECT DISTINCT date FROM {read_files_sql(labels)}
        )
        SELECT d.date, count(r.x), avg(r.x), stddev_samp(r.x),
               (SELECT count(*) FROM uniform AS u WHERE u.date = d.date)
        FROM labelled_days AS d LEFT JOIN reviewed AS r USING (date)
        GROUP BY d.date ORDER BY d.date
        """
    ).fetchall()


def _row(model: ModelConfig, day: dt.date, n: int, mean, sd, sampled: int) -> dict:
    regression = model.task is Task.REGRESSION
    low = high = None
    if n and regression:
        low, high = t_interval(mean, sd or 0.0, n)
    elif n:
        low, high = wilson_interval(round(mean * n), n)
    return {
        "model_id": model.model_id,
        "date": day,
        "metric": "review_mae" if regression else "review_accuracy",
        "value": mean if n else None,
        "n": n,
        "ci_low": low,
        "ci_high": high,
        "interval": "t" if regression else "wilson",
        "uniform_sampled": sampled,
    }


def write_review_accuracy(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> pd.DataFrame:
    """Compute and write `review_accuracy` for `days` (a day without review labels gets an
    empty partition, so a re-run leaves nothing stale); returns the rows written."""
    if model.task is Task.RANKING:
        rows: list[dict] = []
    else:
        rows = [_row(model, *stats) for stats in _day_stats(con, paths, model, days)]
    frame = pd.DataFrame(rows, columns=list(REVIEW_ACCURACY))
    write_frame_partitions(
        con, paths, "review_accuracy", model.model_id, frame, REVIEW_ACCURACY, days
    )
    return frame
