"""Pick a day's review rows and write them: the file a person fills in, and `review_sample`.

The uniform draw is made first, over all the day's rows, so it stays a simple random sample
whatever the other strata pick (a row the draw takes is `uniform` even if it is also among the
least confident); the other strata then pick from the rest, in the order least confident,
regressed segments, drifted features. Everything is ordered by a value and then the prediction
id, so a re-run over the same predictions picks the same rows in the same order and writes the
same file. Files are written to a temporary name and renamed: a re-run replaces, a crash never
leaves half a file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import day_files, read_files_sql, write_partitions
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths
from perf_pipeline.review.budget import Budget, split_budget
from perf_pipeline.review.strata import (
    confidence_sql,
    drifted_features,
    stage_drifted_extremes,
    stage_regressed_segments,
    stage_rows,
)
from perf_pipeline.sql import quote_identifier as q
from perf_pipeline.sql import quote_literal

REASON_COLUMN = "review_reason"
LABEL_COLUMN = "reviewed_label"
STRATA = ("least_confident", "segments", "drifted", "uniform")
_NOT_PICKED = (
    "NOT EXISTS (SELECT 1 FROM review_picks AS p "
    "WHERE p.date = r.date AND p.prediction_id = r.prediction_id)"
)


def review_file(paths: DataPaths, model_id: str, day: dt.date) -> Path:
    return paths.root / "review" / model_id / f"{day.isoformat()}.csv"


def _counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[dt.date, int]:
    return dict(con.execute(f"SELECT date, count(*) FROM {table} GROUP BY date").fetchall())


def _stage_budgets(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, Budget]:
    segments, drifted = _counts(con, "review_segments"), _counts(con, "review_extremes")
    budgets = {
        d: split_budget(
            model.review,
            ranks_confidence=confidence_sql(model) is not None,
            has_segments=d in segments,
            has_drifted=d in drifted,
        )
        for d in days
    }
    con.execute(
        "CREATE OR REPLACE TEMP TABLE review_budget (date DATE, least_confident BIGINT, "
        "segments BIGINT, drifted BIGINT, uniform BIGINT)"
    )
    rows = [(d, b.least_confident, b.segments, b.drifted, b.uniform) for d, b in budgets.items()]
    if rows:
        con.executemany("INSERT INTO review_budget VALUES (?, ?, ?, ?, ?)", rows)
    return budgets


def _segment_members(model: ModelConfig) -> str:
    """Rows of `review_rows` in a regressed segment, not picked yet, each once: in the best
    ranked of its segments (a row can match one segment per segment column)."""
    matches = " OR ".join(
        f"(s.segment_column = {quote_literal(c)} AND "
        f"coalesce(CAST(r.{q(c)} AS VARCHAR), '__null__') = s.segment_value)"
        for c in model.segments
    )
    return (
        "SELECT r.date, r.prediction_id, any_value(r.draw) AS draw, "
        "arg_min(s.segment_column, s.segment_rank) AS segment_column, "
        "arg_min(s.segment_value, s.segment_rank) AS segment_value, "
        "min(s.segment_rank) AS segment_rank FROM review_rows AS r JOIN review_segments AS s "
        f"ON s.date = r.date AND ({matches or 'false'}) WHERE {_NOT_PICKED} "
        "GROUP BY r.date, r.prediction_id"
    )


def _candidates(source: str, key: str, k: int, groups: str = "date", desc: bool = False) -> str:
    """The rows of `source` that can rank among the first `k` of their group by `key` (then the
    prediction id): those up to the group's k-th key, ties included, or the whole group when it
    has fewer than k non-null keys (nulls sort last). Ranking these few rows gives every row in
    the first k the rank it has among all the day's rows, without sorting a million of them."""
    cut = f"list_last({'max' if desc else 'min'}(c.{key}, {k}))"
    return (
        f"WITH c AS MATERIALIZED ({source}), cut AS (SELECT {groups}, {cut} AS kth, "
        f"count(c.{key}) AS n FROM c GROUP BY {groups}) "
        f"SELECT c.* FROM c JOIN cut USING ({groups}) "
        f"WHERE c.{key} {'>=' if desc else '<='} cut.kth OR cut.n < {k}"
    )


def _pick_segments(con: duckdb.DuckDBPyConnection, model: ModelConfig, k: int) -> None:
    """Round robin over the day's regressed segments, worst first; random within a segment.
    A row's rank is at least its place within its segment, so only a segment's first `k`
    members can be picked."""
    members = _candidates(_segment_members(model), "draw", k, "date, segment_rank")
    con.execute(
        f"""
        INSERT INTO review_picks
        WITH ordered AS (
            SELECT *, row_number() OVER (
                PARTITION BY date, segment_rank ORDER BY draw, prediction_id) AS within
            FROM ({members})
        )
        SELECT o.date, o.prediction_id,
               'segment:' || o.segment_column || '=' || o.segment_value, 'segments',
               row_number() OVER (PARTITION BY o.date ORDER BY o.within, o.segment_rank) AS rank
        FROM ordered AS o JOIN review_budget AS b USING (date) QUALIFY rank <= b.segments
        """
    )


def _pick(con: duckdb.DuckDBPyConnection, model: ModelConfig, most: dict[str, int]) -> None:
    """`review_picks` (date, prediction_id, reason, stratum, rank), stratum by stratum; `most`
    is each stratum's largest budget over the days. Each stratum ranks only the rows that can
    make its cut (`_candidates`): the picks are those of ranking every row."""
    uniform = _candidates(
        "SELECT date, prediction_id, draw FROM review_rows", "draw", most["uniform"]
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE review_picks AS "
        "SELECT r.date, r.prediction_id, 'uniform' AS reason, 'uniform' AS stratum, "
        "row_number() OVER (PARTITION BY r.date ORDER BY r.draw, r.prediction_id) AS rank "
        f"FROM ({uniform}) AS r JOIN review_budget AS b USING (date) QUALIFY rank <= b.uniform"
    )
    if most["least_confident"]:
        unsure = _candidates(
            "SELECT r.date, r.prediction_id, r.confidence FROM review_rows AS r "
            f"WHERE r.confidence IS NOT NULL AND {_NOT_PICKED}",
            "confidence",
            most["least_confident"],
        )
        con.execute(
            "INSERT INTO review_picks SELECT r.date, r.prediction_id, 'least_confident', "
            "'least_confident', row_number() OVER (PARTITION BY r.date "
            "ORDER BY r.confidence, r.prediction_id) AS rank "
            f"FROM ({unsure}) AS r JOIN review_budget AS b USING (date) "
            "QUALIFY rank <= b.least_confident"
        )
    if most["segments"]:
        _pick_segments(con, model, most["segments"])
    if most["drifted"]:
        extreme = _candidates(
            f"SELECT r.* FROM review_extremes AS r WHERE {_NOT_PICKED}",
            "extremeness",
            most["drifted"],
            desc=True,
        )
        con.execute(
            "INSERT INTO review_picks SELECT r.date, r.prediction_id, 'drift:' || r.feature, "
            "'drifted', row_number() OVER (PARTITION BY r.date "
            "ORDER BY r.extremeness DESC, r.prediction_id) AS rank "
            f"FROM ({extreme}) AS r JOIN review_budget AS b USING (date) "
            "QUALIFY rank <= b.drifted"
        )


def pick_rows(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """`review_picks` for `days` (empty when the model has no predictions on them)."""
    drifted = drifted_features(con, paths, model, days)
    stage_rows(con, paths, model, days, [*dict.fromkeys(c for d in drifted.values() for c in d)])
    stage_regressed_segments(con, paths, model, days)
    stage_drifted_extremes(con, paths, model, days, drifted)
    budgets = _stage_budgets(con, model, days).values()
    # At least one: `min(x, 0)` is not a list DuckDB can take the last of.
    most = {s: max([getattr(b, s) for b in budgets], default=0) for s in STRATA}
    _pick(con, model, {s: n if s != "uniform" else max(n, 1) for s, n in most.items()})


def _file_columns(model: ModelConfig) -> list[str]:
    columns = ["prediction_id", "timestamp", "model_version", *model.input_columns]
    columns += ["prediction", *model.score_columns]
    clash = [c for c in columns if c in (REASON_COLUMN, LABEL_COLUMN)]
    if clash:
        raise ValueError(
            f"model {model.model_id!r}: column(s) {clash} clash with the review file's own "
            f"{REASON_COLUMN!r} and {LABEL_COLUMN!r} columns"
        )
    return columns


def _write_csv(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, day: dt.date
) -> Path:
    target = review_file(paths, model.model_id, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    files = day_files(paths, "predictions", model.model_id, [day])
    columns = ", ".join(f"p.{q(c)}" for c in _file_columns(model))
    order = ", ".join(quote_literal(s) for s in STRATA)
    query = (
        f"SELECT {columns}, k.reason AS {REASON_COLUMN}, NULL::VARCHAR AS {LABEL_COLUMN} "
        f"FROM review_picks AS k JOIN {read_files_sql(files)} AS p USING (prediction_id) "
        f"WHERE k.date = DATE {quote_literal(day.isoformat())} "
        f"ORDER BY list_position([{order}], k.stratum), k.rank"
    )
    staged = staging_path(target)
    try:
        con.execute(
            f"COPY ({query}) TO {quote_literal(paths.for_duckdb(staged))} (FORMAT csv, HEADER)"
        )
        commit(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return target


def write_samples(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, int]:
    """Write `review_sample` for `days` and a review file for each day with picks (a day
    without any loses its stale file); returns rows per day. Reads `review_picks`."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE review_sample_rows AS "
        f"SELECT {quote_literal(model.model_id)} AS model_id, date, prediction_id, "
        "reason, stratum, CAST(rank AS BIGINT) AS rank FROM review_picks "
        "ORDER BY date, stratum, rank"
    )
    written = write_partitions(
        con, paths, "review_sample", model.model_id, "review_sample_rows", days
    )
    for day, rows in written.items():
        if rows:
            _write_csv(con, paths, model, day)
        else:
            review_file(paths, model.model_id, day).unlink(missing_ok=True)
    return written


def clear_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """No review picks and no review file for `days` (days the quality gate now blocks): a
    reviewer must not be asked about predictions the pipeline no longer stands behind."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE review_sample_cleared AS SELECT "
        "CAST(NULL AS VARCHAR) AS model_id, CAST(NULL AS DATE) AS date, "
        "CAST(NULL AS VARCHAR) AS prediction_id, CAST(NULL AS VARCHAR) AS reason, "
        "CAST(NULL AS VARCHAR) AS stratum, CAST(NULL AS BIGINT) AS rank WHERE false"
    )
    write_partitions(con, paths, "review_sample", model.model_id, "review_sample_cleared", days)
    for day in days:
        review_file(paths, model.model_id, day).unlink(missing_ok=True)
