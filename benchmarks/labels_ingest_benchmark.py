"""Time of one labels run against a long predictions history.

The labels ingest looks up each label's prediction (is it known, and on which day) in the
model's `predictions` table. This writes a synthetic lake of D days x N accepted predictions
(all the columns the ingest stores, as one Parquet file a day, like the ingest writes them) and
one landing day of L labels whose ids are spread over the last 30 days, then times
`ingest_labels` for that arrival day: the median of R runs, each on a fresh DuckDB connection
(the label partitions it writes are simply replaced by the next run). With `--noted K`, the
last K prediction days are noted as just written before each run, as a predictions run leaves
them, so the run also looks for earlier labels those days changed (`label_recheck`).

    python benchmarks/labels_ingest_benchmark.py [--days 60] [--rows 200000] [--labels 50000]
        [--noted 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.label_recheck import note_prediction_days
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths

START = dt.date(2026, 1, 1)
MODEL = ModelConfig(
    model_id="bench",
    task="binary_classification",
    start_date=START,
    features={"numerical": ["amount", "age"], "categorical": ["channel"]},
)


def write_history(paths: DataPaths, days: int, rows: int) -> None:
    """D days of accepted predictions in the lake, ids `<day>-<n>` (unique per model)."""
    con = duckdb.connect()
    for offset in range(days):
        day = START + dt.timedelta(days=offset)
        target = paths.partition_dir("predictions", MODEL.model_id, day) / "data.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"""
            COPY (
                SELECT 'bench' AS model_id, DATE '{day}' AS date,
                       '{day}-' || i AS prediction_id,
                       TIMESTAMPTZ '{day} 00:00:00+00' + to_seconds(i % 86400) AS timestamp,
                       'v1' AS model_version, random() * 1000 AS amount,
                       (i % 90)::DOUBLE AS age, ['web', 'app', 'store'][i % 3 + 1] AS channel,
                       (i % 2)::VARCHAR AS prediction, random() AS score,
                       '/landing/day.parquet' AS source_file
                FROM range({rows}) t(i)
            ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)
            """
        )


def write_labels(paths: DataPaths, arrival: dt.date, days: int, rows: int, labels: int) -> None:
    """One arrival day of labels for predictions of the last 30 days (a few unknown ids)."""
    folder = paths.landing_day("labels", MODEL.model_id, arrival)
    folder.mkdir(parents=True, exist_ok=True)
    first = max(0, days - 30)
    duckdb.connect().execute(
        f"""
        COPY (
            SELECT CASE WHEN i % 100 = 0 THEN 'ghost-' || i
                        ELSE (DATE '{START}' + ({first} + i % {days - first})::INTEGER)::VARCHAR
                             || '-' || (i * 7919 % {rows}) END AS prediction_id,
                   (i % 2)::VARCHAR AS label
            FROM range({labels}) t(i)
        ) TO '{folder / "labels.parquet"}' (FORMAT parquet)
        """
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rows", type=int, default=200_000, help="predictions per day")
    parser.add_argument("--labels", type=int, default=50_000, help="labels on the arrival day")
    parser.add_argument("--noted", type=int, default=0, help="prediction days noted as written")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = DataPaths(Path(tmp))
        arrival = START + dt.timedelta(days=args.days)
        write_history(paths, args.days, args.rows)
        write_labels(paths, arrival, args.days, args.rows, args.labels)
        seconds = []
        noted = [arrival - dt.timedelta(days=1 + i) for i in range(args.noted)]
        for _ in range(args.repeats):
            note_prediction_days(paths, MODEL.model_id, noted)
            con = connect()
            began = time.perf_counter()
            result = ingest_labels(con, paths, MODEL, [arrival])[arrival]
            seconds.append(time.perf_counter() - began)
            con.close()
        print(
            f"{args.days} days x {args.rows:,} predictions, {args.labels:,} labels, "
            f"{args.noted} noted: "
            f"median {statistics.median(seconds):.2f} s "
            f"(min {min(seconds):.2f}, max {max(seconds):.2f}); "
            f"accepted {result.accepted:,}, quarantined {result.quarantined:,}"
        )


if __name__ == "__main__":
    main()
