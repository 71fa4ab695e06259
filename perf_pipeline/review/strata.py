"""What each stratum of the review queue ranks a day's predictions by, in DuckDB SQL.

- **Least confident.** A binary classifier: the score closest to the decision threshold
  (`abs(score - decision_threshold)`). A multiclass classifier: the smallest margin between its
  two highest class scores (a row torn between two classes, whatever the number of classes).
  Regression and ranking models log no confidence, so they have no such stratum: estimating a
  row's loss (DLE) needs a fitted loss model that a trailing reference does not keep, and a
  ranked list has no single score. Their share goes to the uniform draw.
- **Regressed segments.** For each metric the model has thresholds for, each segment value's
  gap to the day's overall value in the metric's bad direction, relative to the overall value,
  from the day's `performance` rows (realized or estimated, each compared with its own kind),
  for segments of at least `MIN_SEGMENT_ROWS` rows. A segment's badness is its largest gap; the
  `MAX_SEGMENTS` worst with a positive gap are the day's regressed segments.
- **Drifted features.** The numerical features the day's `drift` rows call drifted; a row's
  extremeness is its largest |value - reference mean| / reference standard deviation over them
  (the reference file, or the trailing window before the day). Categorical features are left
  out: a rare category has no distance to rank by that would compare with a z-score.
- **Uniform.** Rows ordered by `md5(seed, model, day, prediction_id)`: a seeded simple random
  sample, the same for the same predictions whatever order the files list them in.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.lake import day_files, has_files, read_files_sql, read_table_sql
from perf_pipeline.metrics.registry import metric_direction
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

MIN_SEGMENT_ROWS = 30
MAX_SEGMENTS = 3
_OVERALL = "__all__"


def date_list(days: list[dt.date]) -> str:
    return ", ".join(f"DATE {quote_literal(d.isoformat())}" for d in days) or "NULL::DATE"


def confidence_sql(model: ModelConfig) -> str | None:
    """Lower is less confident; None when the task has no confidence to rank by."""
    if model.task is Task.BINARY_CLASSIFICATION:
        return f"abs(score - {float(model.decision_threshold)!r})"
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        scores = ", ".join(q(c) for c in model.score_columns)
        ordered = f"list_sort(list_filter([{scores}], lambda s: s IS NOT NULL), 'DESC')"
        return f"({ordered})[1] - coalesce(({ordered})[2], 0)"
    return None


def stage_rows(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    numerical: list[str] | None = None,
) -> bool:
    """`review_rows` (date, prediction_id, draw, confidence, the segment columns and the
    `numerical` ones, by default all) for the accepted predictions of `days`; False when there
    are none. Only the drifted features are read by a stratum, and copying the others would be
    most of the cost of staging a large day."""
    files = day_files(paths, "predictions", model.model_id, days)
    confidence = confidence_sql(model) or "NULL::DOUBLE"
    seed = quote_literal(f"{model.review.seed}|{model.model_id}|")
    numerical = model.features.numerical if numerical is None else numerical
    extra = [*dict.fromkeys([*model.segments, *numerical])]
    columns = "".join(f", {q(c)}" for c in extra)
    source = read_files_sql(files) if files else None
    con.execute(
        "CREATE OR REPLACE TEMP TABLE review_rows AS "
        f"SELECT date, prediction_id, md5({seed} || CAST(date AS VARCHAR) || '|' || "
        f"prediction_id) AS draw, {confidence} AS confidence{columns} "
        + (f"FROM {source}" if source else "FROM (SELECT NULL::DATE AS date) WHERE false")
    )
    return bool(files)


def _thresholded_metrics(model: ModelConfig) -> dict[str, bool]:
    """Metrics with thresholds, and whether higher is better (drift_share is not a metric)."""
    found = {}
    for name in model.thresholds:
        try:
            found[name] = metric_direction(model.task, name)
        except KeyError:
            continue
    return found


def stage_regressed_segments(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """`review_segments` (date, segment_column, segment_value, segment_rank, gap)."""
    metrics = _thresholded_metrics(model)
    empty = (
        "SELECT NULL::DATE AS date, NULL::VARCHAR AS segment_column, "
        "NULL::VARCHAR AS segment_value, NULL::BIGINT AS segment_rank, NULL::DOUBLE AS gap "
        "WHERE false"
    )
    if not (metrics and model.segments and has_files(paths, "performance", model.model_id)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE review_segments AS {empty}")
        return
    better = " ".join(f"WHEN {quote_literal(m)} THEN {str(h).lower()}" for m, h in metrics.items())
    source = read_table_sql(paths, "performance", model.model_id)
    listed = ", ".join(quote_literal(m) for m in metrics)
    segments = ", ".join(quote_literal(s) for s in model.segments)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE review_segments AS
        WITH rows AS (
            SELECT date, segment_column, segment_value, metric, is_estimated, value, n
            FROM {source}
            WHERE date IN ({date_list(days)}) AND metric IN ({listed}) AND value IS NOT NULL
        ),
        gaps AS (
            SELECT s.date, s.segment_column, s.segment_value,
                   (CASE s.metric {better} END) AS higher_is_better,
                   CASE WHEN higher_is_better THEN o.value - s.value ELSE s.value - o.value END
                       / greatest(abs(o.value), 1e-12) AS gap
            FROM rows AS s
            JOIN rows AS o
              ON o.date = s.date AND o.metric = s.metric AND o.is_estimated = s.is_estimated
             AND o.segment_column = {quote_literal(_OVERALL)}
            WHERE s.segment_column IN ({segments}) AND s.n >= {MIN_SEGMENT_ROWS}
        ),
        worst AS (
            SELECT date, segment_column, segment_value, max(gap) AS gap
            FROM gaps GROUP BY ALL HAVING max(gap) > 0
        )
        SELECT date, segment_column, segment_value,
               row_number() OVER (
                   PARTITION BY date ORDER BY gap DESC, segment_column, segment_value
               ) AS segment_rank, gap
        FROM worst
        QUALIFY segment_rank <= {MAX_SEGMENTS}
        """
    )


def drifted_features(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, list[str]]:
    """The numerical features the `drift` rows call drifted, day by day."""
    numerical = model.features.numerical
    if not (numerical and has_files(paths, "drift", model.model_id)):
        return {}
    listed = ", ".join(quote_literal(c) for c in numerical)
    source = read_table_sql(paths, "drift", model.model_id)
    rows = con.execute(
        f"SELECT DISTINCT date, {q('column')} FROM {source} "
        f"WHERE drifted AND {q('column')} IN ({listed}) AND date IN ({date_list(days)}) "
        "ORDER BY ALL"
    ).fetchall()
    by_day: dict[dt.date, list[str]] = {}
    for day, column in rows:
        by_day.setdefault(day, []).append(column)
    return by_day


def _reference_source(paths: DataPaths, model: ModelConfig, day: dt.date) -> str | None:
    if model.reference.source == "file":
        if not has_files(paths, "reference", model.model_id):
            return None
        return read_table_sql(paths, "reference", model.model_id)
    window = [day - dt.timedelta(days=i) for i in range(model.reference.days or 1, 0, -1)]
    files = day_files(paths, "predictions", model.model_id, window)
    return read_files_sql(files) if files else None


def _reference_stats(
    con: duckdb.DuckDBPyConnection, source: str, day: dt.date, columns: list[str]
) -> list[tuple]:
    """(day, feature, mean, sd) of each column, in one scan of the reference."""
    aggregates = ", ".join(
        f"avg(CAST({q(c)} AS DOUBLE)), stddev_samp(CAST({q(c)} AS DOUBLE))" for c in columns
    )
    values = con.execute(f"SELECT {aggregates} FROM {source}").fetchone()
    return [(day, c, values[2 * i], values[2 * i + 1]) for i, c in enumerate(columns)]


def stage_drifted_extremes(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    days: list[dt.date],
    by_day: dict[dt.date, list[str]] | None = None,
) -> None:
    """`review_extremes` (date, prediction_id, feature, extremeness): each row's most extreme
    drifted numerical feature (`by_day`, read from `drift` when not given), in reference
    standard deviations."""
    if by_day is None:
        by_day = drifted_features(con, paths, model, days)
    stats: list[tuple] = []
    for day, columns in by_day.items():
        source = _reference_source(paths, model, day)
        if source is not None:
            stats.extend(_reference_stats(con, source, day, columns))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE review_reference_stats "
        "(date DATE, feature VARCHAR, mean DOUBLE, sd DOUBLE)"
    )
    if stats:
        con.executemany("INSERT INTO review_reference_stats VALUES (?, ?, ?, ?)", stats)
    features = [*dict.fromkeys(c for cols in by_day.values() for c in cols)]
    con.execute(f"CREATE OR REPLACE TEMP TABLE review_extremes AS {_extremes_sql(features)}")


def _extremes_sql(features: list[str]) -> str:
    """Each row's most extreme drifted feature and its z-score, computed across the row's
    columns: a feature not drifted on the row's day has no statistics and no z-score. One pass
    over the day, where unpivoting would make a row per feature and group them back."""
    if not features:
        return (
            "SELECT NULL::DATE AS date, NULL::VARCHAR AS prediction_id, "
            "NULL::VARCHAR AS feature, NULL::DOUBLE AS extremeness WHERE false"
        )
    stats, scores, names = [], [], []
    for i, column in enumerate(features):
        name, value = quote_literal(column), f"CAST(r.{q(column)} AS DOUBLE)"
        stats.append(
            f"max(mean) FILTER (feature = {name}) AS m{i}, "
            f"max(sd) FILTER (feature = {name}) AS s{i}"
        )
        scores.append(
            f"CASE WHEN s.s{i} > 0 AND isfinite({value}) "
            f"THEN abs({value} - s.m{i}) / s.s{i} END AS z{i}"
        )
        names.append(f"WHEN z{i} = extremeness THEN {name}")
    return f"""
        SELECT date, prediction_id, CASE {" ".join(names)} END AS feature, extremeness
        FROM (
            SELECT *, greatest({", ".join(f"z{i}" for i in range(len(features)))}) AS extremeness
            FROM (
                SELECT r.date, r.prediction_id, {", ".join(scores)}
                FROM review_rows AS r
                JOIN (SELECT date, {", ".join(stats)} FROM review_reference_stats GROUP BY date)
                    AS s USING (date)
            )
        )
        WHERE extremeness IS NOT NULL
        """
