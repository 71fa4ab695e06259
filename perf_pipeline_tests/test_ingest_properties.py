"""Properties of the ingest that must hold for any input, checked on generated landing zones.

Hypothesis writes real files (CSV, JSON Lines, Parquet, split over several files a day) with
arbitrary column names and text values, and the real ingest reads them into a real lake:
- accounting: every row read is accepted or quarantined, per day, in the result and on disk;
- round trip: a valid row comes back exactly (id, feature values and their types) whatever the
  format it was logged in;
- order: one run of days 1-3 and runs of the same days in any grouping and order leave the same
  `predictions`, `labels` and `quarantine` partitions;
- nothing generated ever crashes the ingest or fails a day.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.predictions import ingest_predictions
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths

DAYS = [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
MODEL = ModelConfig(
    model_id="m",
    task="binary_classification",
    start_date=DAYS[0],
    features={"numerical": ["amount"], "categorical": ["channel"]},
    segments=["channel"],
)
FORMATS = ("csv", "jsonl", "parquet")
# Reproducible and a few seconds a property (each example writes and ingests real files).
CI = settings(
    derandomize=True,
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any text but NUL and lone surrogates (which no UTF-8 file can hold).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
TRIMMED = TEXT.map(str.strip).filter(bool)
AMOUNT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.integers(-(10**6), 10**6).map(str),
)


@st.composite
def prediction_rows(draw: st.DrawFn, day: dt.date, valid: bool) -> dict[str, str | None]:
    """One log row of `day`; with `valid`, one no rule rejects (its id is made unique later)."""
    row: dict[str, str | None] = {
        "prediction_id": draw(st.sampled_from([*"abcdefgh", " a "])),
        "timestamp": f"{day.isoformat()}T{draw(st.integers(0, 23)):02d}:00:00Z",
        "model_version": draw(TEXT),
        "amount": draw(AMOUNT),
        "channel": draw(TRIMMED),
        "prediction": draw(st.sampled_from(["0", "1", "1.0", ""])),
        "score": draw(st.sampled_from(["0", "0.25", "1"])),
    }
    if not valid:
        row.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "prediction_id": st.sampled_from(["", None, "a"]),
                        "timestamp": st.sampled_from(["2024-02-01T00:00:00Z", "soon", ""]),
                        "amount": TEXT,
                        "channel": TEXT,
                        "prediction": st.one_of(st.sampled_from(["2", "yes", "-1"]), TEXT),
                        "score": st.sampled_from(["1.5", "nan", "x", ""]),
                    },
                )
            )
        )
    return row


def _write(folder: Path, name: str, fmt: str, rows: list[dict[str, Any]]) -> None:
    """Rows as one file of `fmt`; every row has the same columns."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0]) if rows else ["prediction_id"]
    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in rows])
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns})
        pq.write_table(table, path)


@contextmanager
def _root() -> Iterator[Path]:
    """A fresh data root per example (pytest's tmp_path is shared by all examples)."""
    root = Path(tempfile.mkdtemp(prefix="ingest_prop_"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _partition(paths: DataPaths, table: str, day: dt.date, file: str) -> list[tuple]:
    """A partition's rows, sorted, with the data root cut from file paths."""
    path = paths.partition_dir(table, "m", day) / file
    if not path.exists():
        return []
    rows = duckdb.connect().execute(
        "SELECT * FROM read_parquet($p, hive_partitioning = false)", {"p": str(path)}
    )
    names = [d[0] for d in rows.description]
    cleaned = [
        tuple(
            str(v).replace(str(paths.root), "<root>") if n == "source_file" else v
            for n, v in zip(names, r, strict=True)
        )
        for r in rows.fetchall()
    ]
    return sorted(cleaned, key=repr)


DAY_FILES = st.lists(
    st.tuples(st.sampled_from(FORMATS), st.lists(st.booleans(), max_size=6)), max_size=2
)


@st.composite
def landing_zones(draw: st.DrawFn) -> dict[dt.date, list[tuple[str, list[dict]]]]:
    """For each day, its files: (format, rows), valid and invalid rows mixed."""
    zone = {}
    for day in DAYS:
        files = draw(DAY_FILES)
        zone[day] = [
            (fmt, [draw(prediction_rows(day, valid)) for valid in validity])
            for fmt, validity in files
        ]
    return zone


def _write_zone(paths: DataPaths, zone: dict, labels: dict | None = None) -> None:
    for day, files in zone.items():
        for index, (fmt, rows) in enumerate(files):
            if rows:
                _write(paths.landing_day("predictions", "m", day), f"part{index}", fmt, rows)
    for day, rows in (labels or {}).items():
        if rows:
            _write(paths.landing_day("labels", "m", day), "labels", "csv", rows)


@CI
@given(zone=landing_zones())
def test_every_row_read_is_accepted_or_quarantined(zone: dict) -> None:
    with _root() as root:
        paths = DataPaths(root)
        _write_zone(paths, zone)
        results = ingest_predictions(connect(), paths, MODEL, DAYS)
        for day, result in results.items():
            written = sum(len(rows) for _, rows in zone[day])
            assert result.load.error is None
            assert result.load.rows_read == written
            assert result.balanced
            assert len(_partition(paths, "predictions", day, "data.parquet")) == result.accepted
            quarantined = _partition(paths, "quarantine", day, "predictions.parquet")
            assert len(quarantined) == result.quarantined


NAMES = st.lists(
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8).filter(
        lambda n: n.strip() == n and n not in {"prediction_id", "timestamp", "score"}
    ),
    min_size=1,
    max_size=3,
    unique=True,
)


@CI
@given(
    channels=st.lists(TRIMMED, min_size=1, max_size=5),
    amounts=st.lists(AMOUNT, min_size=5, max_size=5),
    extra_names=NAMES,
    extra_value=TEXT,
)
def test_valid_rows_round_trip_exactly_through_every_format(
    channels: list[str], amounts: list[str], extra_names: list[str], extra_value: str
) -> None:
    """Ids, feature values and their types come back as written, with any extra columns
    (unicode, spaces, quotes, dashes in their names) around them."""
    rows = [
        {
            "prediction_id": f"id-{i}",
            "timestamp": "2024-03-01T12:00:00Z",
            "model_version": "v1",
            "amount": amounts[i],
            "channel": channel,
            "prediction": "1",
            "score": "0.5",
            **dict.fromkeys(extra_names, extra_value),
        }
        for i, channel in enumerate(channels)
    ]
    expected = sorted((r["prediction_id"], float(r["amount"]), r["channel"]) for r in rows)
    for fmt in FORMATS:
        with _root() as root:
            paths = DataPaths(root)
            _write(paths.landing_day("predictions", "m", DAYS[0]), "part", fmt, rows)
            result = ingest_predictions(connect(), paths, MODEL, [DAYS[0]])[DAYS[0]]
            stored = _partition(paths, "predictions", DAYS[0], "data.parquet")
            path = paths.partition_dir("predictions", "m", DAYS[0]) / "data.parquet"
            types = pq.read_schema(path)
        assert (result.load.error, result.accepted) == (None, len(rows)), fmt
        assert sorted((r[2], r[5], r[6]) for r in stored) == expected, fmt
        assert (types.field("amount").type, types.field("channel").type) == (
            pa.float64(),
            pa.string(),
        )


@st.composite
def zones_with_labels(draw: st.DrawFn) -> tuple[dict, dict]:
    """A landing zone and labels arriving on its days for ids logged on one day only (a
    label's prediction day is only defined for those), unknown ids and broken values among them.
    """
    zone = draw(landing_zones())
    days_of: dict[str, set[dt.date]] = {}
    for day, files in zone.items():
        for _, rows in files:
            for row in rows:
                days_of.setdefault((row["prediction_id"] or "").strip(), set()).add(day)
    single = sorted(i for i, days in days_of.items() if len(days) == 1 and i) or ["ghost"]
    label = st.fixed_dictionaries(
        {
            "prediction_id": st.sampled_from([*single, "ghost"]),
            "label": st.sampled_from(["0", "1", "2", ""]),
        }
    )
    labels = {day: draw(st.lists(label, max_size=4)) for day in DAYS}
    return zone, labels


ORDERS = st.sampled_from(
    [
        [[DAYS[2]], [DAYS[0]], [DAYS[1]]],
        [[DAYS[1], DAYS[2]], [DAYS[0]]],
        [[DAYS[2]], [DAYS[1]], [DAYS[0]]],
        [[DAYS[0]], [DAYS[2]], [DAYS[1]], [DAYS[0]]],
    ]
)


def _lake(paths: DataPaths) -> dict:
    return {
        (day, table, file): _partition(paths, table, day, file)
        for day in DAYS
        for table, file in [
            ("predictions", "data.parquet"),
            ("labels", "data.parquet"),
            ("quarantine", "predictions.parquet"),
            ("quarantine", "labels.parquet"),
        ]
    }


@settings(CI, max_examples=8)
@given(data=zones_with_labels(), order=ORDERS)
def test_any_grouping_and_order_of_days_gives_the_same_lake(data: tuple, order: list) -> None:
    """A run is the predictions ingest, then the labels ingest, of its days."""
    zone, labels = data
    lakes = []
    for runs in ([DAYS], order):
        with _root() as root:
            paths = DataPaths(root)
            _write_zone(paths, zone, labels)
            for days in runs:
                ingest_predictions(connect(), paths, MODEL, days)
                ingest_labels(connect(), paths, MODEL, days)
            lakes.append(_lake(paths))
    assert lakes[0] == lakes[1]


@CI
@given(names=NAMES, values=st.lists(TEXT, min_size=1, max_size=4), fmt=st.sampled_from(FORMATS))
def test_arbitrary_names_and_text_never_crash_the_ingest(
    names: list[str], values: list[str], fmt: str
) -> None:
    """Any column names and any NUL-free text in any column: rows are judged, never a crash."""
    columns = ["prediction_id", "timestamp", "amount", "channel", "prediction", "score", *names]
    rows = [
        {c: value for c in columns} | {"prediction_id": f"{value}{i}"}
        for i, value in enumerate(values)
    ]
    with _root() as root:
        paths = DataPaths(root)
        _write(paths.landing_day("predictions", "m", DAYS[0]), "part", fmt, rows)
        result = ingest_predictions(connect(), paths, MODEL, [DAYS[0]])[DAYS[0]]
    assert result.load.error is None
    assert result.balanced and result.load.rows_read == len(rows)
