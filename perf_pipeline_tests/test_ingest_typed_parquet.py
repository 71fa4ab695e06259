"""Parquet columns kept typed by the predictions ingest store exactly what text reading stores.

The ingest reads a Parquet number or timestamp column typed when its type already matches the
contract (`readers.typed_or_none`), instead of as text parsed back. Each test ingests the same
rows twice with the real ingest on real DuckDB: once from a typed Parquet file and once from the
same file with every column turned into the text the readers used to make of it; the lake must
hold the same accepted rows and the same quarantined records, reasons and row numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.predictions import ingest_predictions
from perf_pipeline.ingest.readers import NUMBER, TIMESTAMP, to_text, typed_or_none
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths

DAY = dt.date(2024, 3, 1)
MODEL = ModelConfig(
    model_id="m",
    task="binary_classification",
    start_date=DAY,
    features={"numerical": ["amount"], "categorical": ["channel"]},
    segments=["channel"],
)
CI = settings(
    derandomize=True,
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MIDNIGHT_NS = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()) * 10**9
AMOUNTS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.1, -0.0, 1e20, 1e-7, 2.0**53 + 1]),
)
SCORES = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1.0, 1.5, -0.1, math.nan, math.inf]))
# Nanoseconds from the day's midnight: inside and outside the day, whole microseconds or not.
OFFSETS = st.one_of(
    st.none(),
    st.integers(-(10**12), 2 * 86_400 * 10**9).map(lambda n: n - n % 1000),
    st.integers(0, 86_400 * 10**9),
)


def _typed_table(draw_rows: list[tuple], ids: list[str | None]) -> pa.Table:
    amounts, scores, offsets = zip(*draw_rows, strict=True) if draw_rows else ([], [], [])
    return pa.table(
        {
            "prediction_id": pa.array(ids, pa.string()),
            "timestamp": pa.array(
                [None if o is None else MIDNIGHT_NS + o for o in offsets],
                pa.timestamp("ns", tz="UTC"),
            ),
            "model_version": pa.array(["v1"] * len(ids), pa.string()),
            "amount": pa.array(amounts, pa.float64()),
            "channel": pa.array(["web"] * len(ids), pa.string()),
            "prediction": pa.array([1] * len(ids), pa.int64()),
            "score": pa.array(scores, pa.float64()),
        }
    )


def _as_text(table: pa.Table) -> pa.Table:
    """The table as the readers read every Parquet column before typed columns were kept."""
    return pa.table({name: to_text(table[name]) for name in table.column_names})


@contextmanager
def _root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="typed_parquet_"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ingested(root: Path, files: dict[str, pa.Table | str]) -> dict[str, list[tuple]]:
    """Ingest `files` (Parquet tables, or CSV text) as DAY's landing files; the lake's rows."""
    paths = DataPaths(root)
    folder = paths.landing_day("predictions", MODEL.model_id, DAY)
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, str):
            (folder / name).write_text(content, encoding="utf-8")
        else:
            pq.write_table(content, folder / name)
    ingest_predictions(connect(), paths, MODEL, [DAY])
    found = {}
    for table, file in (("predictions", "data.parquet"), ("quarantine", "predictions.parquet")):
        path = paths.partition_dir(table, MODEL.model_id, DAY) / file
        rows = duckdb.connect().execute(
            "SELECT * EXCLUDE (source_file), replace(source_file, $root, '') "
            "FROM read_parquet($p, hive_partitioning = false)",
            {"p": str(path), "root": str(root)},
        )
        found[table] = rows.fetchall()
    return found


@CI
@given(
    rows=st.lists(st.tuples(AMOUNTS, SCORES, OFFSETS), max_size=8),
    id_picks=st.lists(st.sampled_from(["a", "b", " a", None, "c", "d"]), max_size=8),
)
def test_a_typed_parquet_file_stores_what_its_text_would(rows: list[tuple], id_picks) -> None:
    ids = [id_picks[i] if i < len(id_picks) else f"id{i}" for i in range(len(rows))]
    typed = _typed_table(rows, ids)
    with _root() as first, _root() as second:
        kept = _ingested(first, {"part.parquet": typed})
        as_text = _ingested(second, {"part.parquet": _as_text(typed)})
    assert kept == as_text


def test_a_run_mixing_typed_and_text_files_reads_the_column_as_text(tmp_path: Path) -> None:
    """A CSV file beside a typed Parquet file: `amount` cannot be typed for the run, so both
    files' amounts are judged as text, and the CSV's unparseable one is quarantined."""
    typed = _typed_table([(1.5, 0.5, 3600 * 10**9), (math.nan, 0.2, 7200 * 10**9)], ["p1", "p2"])
    csv = (
        "prediction_id,timestamp,model_version,amount,channel,prediction,score\n"
        "c1,2024-03-01T05:00:00Z,v1,ten,web,1,0.5\n"
        "c2,2024-03-01T06:00:00Z,v1,10,web,0,0.1\n"
    )
    kept = _ingested(tmp_path / "a", {"a.parquet": typed, "b.csv": csv})
    as_text = _ingested(tmp_path / "b", {"a.parquet": _as_text(typed), "b.csv": csv})
    assert kept == as_text
    reasons = [row[4] for row in kept["quarantine"]]
    assert reasons == ["unparseable_value:amount"]
    assert len(kept["predictions"]) == 3


@pytest.mark.parametrize(
    ("array", "kind", "kept"),
    [
        (pa.array([1.5], pa.float64()), NUMBER, pa.float64()),
        (pa.array([1], pa.int32()), NUMBER, pa.int64()),
        (pa.array([0.1], pa.float32()), NUMBER, None),  # its text is "0.1", its value is not
        (pa.array([2**63], pa.uint64()), NUMBER, None),
        (pa.array(["1.5"], pa.string()), NUMBER, None),
        (pa.array([0], pa.timestamp("us", tz="UTC")), TIMESTAMP, pa.timestamp("us", tz="UTC")),
        (pa.array([0], pa.timestamp("ms")), TIMESTAMP, pa.timestamp("ms")),
        (pa.array([1000], pa.timestamp("ns", tz="UTC")), TIMESTAMP, pa.timestamp("ns", "UTC")),
        (pa.array([1001], pa.timestamp("ns", tz="UTC")), TIMESTAMP, None),  # DuckDB would round
        (pa.array([0], pa.timestamp("us", tz="Europe/Paris")), TIMESTAMP, None),
        (pa.array([1.5], pa.float64()), TIMESTAMP, None),
    ],
)
def test_only_types_whose_values_equal_their_parsed_text_are_kept(array, kind, kept) -> None:
    result = typed_or_none(pa.chunked_array([array]), kind)
    assert (None if result is None else result.type) == kept
