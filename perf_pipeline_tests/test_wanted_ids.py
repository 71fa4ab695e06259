"""Reading only the labels a run can join: the same rows as over the whole history.

A lake of 40 prediction days, each with its own ids, and labels filed by arrival day, some
arriving weeks late, some corrected later, one arriving before its prediction's day and one id
reused by a much later day. The latest labels `performance` reads for one day, and the
predictions the labels ingest looks up, must be those of the whole history restricted to the
day's (the labels') ids; and with ids that carry their day, the Parquet statistics must keep
DuckDB from reading the other days' rows.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_literal
from perf_pipeline.tables.performance import _latest_labels
from perf_pipeline.tables.wanted_ids import ids_filter

START = dt.date(2026, 1, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(40)]
ROWS = 50
REUSED = f"p-{DAYS[2]:%Y%m%d}-0006"  # also predicted on the last day


def _model() -> ModelConfig:
    return ModelConfig(
        model_id="m",
        task="binary_classification",
        start_date=START,
        features={"numerical": ["amount"]},
    )


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({query}) TO {quote_literal(str(target))} (FORMAT parquet)")


def _lake(tmp_path: Path) -> DataPaths:
    """Predictions `p-<day>-<i>` per day; labels filed by arrival (1 to 25 days late, a
    correction 3 days after some, one label the day before its prediction)."""
    paths = DataPaths(tmp_path)
    con = connect()
    for day in DAYS:
        ids = f"'p-{day:%Y%m%d}-' || lpad(CAST(i AS VARCHAR), 4, '0')"
        extra = f"UNION ALL SELECT '{REUSED}', 0.5, DATE '{day}', 'v1'" if day == DAYS[-1] else ""
        _copy(
            con,
            f"SELECT {ids} AS prediction_id, i / {ROWS} AS amount, DATE '{day}' AS date, "
            f"'v1' AS model_version FROM range({ROWS}) AS t(i) {extra}",
            paths.partition_dir("predictions", "m", day) / "data.parquet",
        )
    rows = []
    for n, day in enumerate(DAYS):
        for i in range(0, ROWS, 3):
            late = 1 + (i * 7 + n) % 25
            rows.append((f"p-{day:%Y%m%d}-{i:04d}", day, day + dt.timedelta(days=late), i % 2))
            if i % 9 == 0:
                rows.append((f"p-{day:%Y%m%d}-{i:04d}", day, day + dt.timedelta(days=late + 3), 1))
    rows.append((f"p-{DAYS[20]:%Y%m%d}-0001", DAYS[20], DAYS[19], 1))
    for arrival in sorted({r[2] for r in rows}):
        values = ", ".join(
            f"('{pid}', DATE '{pday}', DATE '{a}', '{label}')"
            for pid, pday, a, label in rows
            if a == arrival
        )
        _copy(
            con,
            "SELECT prediction_id, CAST(label AS VARCHAR) AS label, "
            "CAST(NULL AS TIMESTAMPTZ) AS label_timestamp, arrival AS arrival_date, "
            "arrival AS date, prediction_date FROM (VALUES "
            f"{values}) AS t(prediction_id, prediction_date, arrival, label)",
            paths.partition_dir("labels", "m", arrival) / "data.parquet",
        )
    return paths


def _everything(con: duckdb.DuckDBPyConnection, paths: DataPaths, day: dt.date) -> list:
    """The latest label of the day's ids, computed over every label (as before)."""
    source = read_table_sql(paths, "labels", "m")
    predictions = paths.partition_dir("predictions", "m", day) / "data.parquet"
    return con.execute(
        "SELECT prediction_id, arg_max(label, (arrival_date, label_timestamp)) FROM "
        f"{source} WHERE prediction_id IN (SELECT prediction_id FROM "
        f"read_parquet({quote_literal(str(predictions))})) GROUP BY 1 ORDER BY 1"
    ).fetchall()


@pytest.mark.parametrize("index", [0, 19, 20, 39])
def test_latest_labels_of_a_day_are_those_of_the_whole_history(tmp_path, index):
    paths = _lake(tmp_path)
    con = connect()
    day = DAYS[index]
    _latest_labels(con, paths, _model(), [day])
    got = con.execute("SELECT * FROM latest_labels ORDER BY 1").fetchall()
    expected = _everything(con, paths, day)
    assert got == expected
    assert got, "the day has labels"
    if index == 39:  # the reused id keeps its label, filed weeks before the day
        assert REUSED in {pid for pid, _ in got}
    if index == 20:  # the label that arrived the day before its prediction
        assert f"p-{day:%Y%m%d}-0001" in {pid for pid, _ in got}


def _day_five_filter(tmp_path):
    """A connection, the lake's predictions, the query of day 5's ids and its filter."""
    paths = _lake(tmp_path)
    con = connect()
    source = read_table_sql(paths, "predictions", "m")
    wanted = f"SELECT prediction_id FROM {source} WHERE date = DATE '{DAYS[5]}'"
    return con, source, wanted, ids_filter(con, wanted, "_test_ids")


def test_ids_filter_keeps_exactly_the_ids_and_nothing_without_ids(tmp_path):
    con, source, wanted, condition = _day_five_filter(tmp_path)
    got = con.execute(f"SELECT count(*), count(DISTINCT date) FROM {source} WHERE {condition}")
    assert got.fetchall() == [(ROWS, 1)]
    assert ids_filter(con, f"{wanted} AND false", "_test_ids") == "false"


def test_the_id_range_skips_other_days_row_groups(tmp_path):
    """With ids that carry their day, only the day's file is scanned for rows: the filter's
    range is checked against each file's statistics before its rows are read."""
    con, source, _, condition = _day_five_filter(tmp_path)
    plan = con.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM {source} WHERE {condition}")
    text = plan.fetchall()[0][1]
    counts = re.findall(r"Row Groups Scanned: (\d+) / (\d+)", text)
    scanned = [int(read) for read, total in counts if int(total) == len(DAYS)]
    # One row group a day: the day's, and the last day's, whose reused id widens its range.
    assert scanned == [2]
