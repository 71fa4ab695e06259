"""Ingest of landing files: every row read is either accepted or quarantined with a reason.

Each test builds a tiny landing zone under `tmp_path`, runs the real ingest on a real DuckDB
connection and reads the written Parquet back, so the assertions are about what a user would
find in the lake (DESIGN §2 and §3), not about intermediate tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.predictions import DayResult, ingest_predictions
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths

DAY = dt.date(2024, 3, 1)
DAY2 = dt.date(2024, 3, 2)
UTC = dt.UTC
COLUMNS = [
    "prediction_id",
    "timestamp",
    "model_version",
    "amount",
    "channel",
    "prediction",
    "score",
]


def _binary(model_id: str = "fraud", **overrides: Any) -> ModelConfig:
    """A binary classifier with one numerical and one categorical feature, segmented by channel."""
    base: dict[str, Any] = {
        "model_id": model_id,
        "task": "binary_classification",
        "start_date": DAY,
        "features": {"numerical": ["amount"], "categorical": ["channel"]},
        "segments": ["channel"],
    }
    return ModelConfig(**{**base, **overrides})


def _regression() -> ModelConfig:
    """A regression model: numeric prediction, no score column."""
    return ModelConfig(
        model_id="price",
        task="regression",
        start_date=DAY,
        features={"numerical": ["amount"], "categorical": ["channel"]},
    )


def _row(pid: str | None, **values: Any) -> dict[str, Any]:
    """One prediction record as text, valid for DAY unless a value is overridden."""
    row: dict[str, Any] = {
        "prediction_id": pid,
        "timestamp": "2024-03-01T10:00:00Z",
        "model_version": "v1",
        "amount": "10.5",
        "channel": "web",
        "prediction": "1",
        "score": "0.8",
    }
    row.update(values)
    return row


def _folder(
    paths: DataPaths, model: ModelConfig, day: dt.date, source: str = "predictions"
) -> Path:
    folder = paths.landing_day(source, model.model_id, day)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_csv(
    folder: Path, name: str, rows: list[dict[str, Any]], columns: list[str] | None = None
) -> Path:
    """A CSV file; None becomes an empty cell."""
    path = folder / name
    header = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in header])
    return path


def _write_jsonl(folder: Path, name: str, rows: list[dict[str, Any] | str]) -> Path:
    """A JSON Lines file; a str entry is written verbatim (to make broken lines)."""
    path = folder / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_parquet(folder: Path, name: str, table: pa.Table) -> Path:
    path = folder / name
    pq.write_table(table, path)
    return path


def _read(path: Path, order_by: str = "row_number") -> list[dict[str, Any]]:
    """Rows of one written Parquet file, read back with DuckDB."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rel = con.execute(
        f"SELECT * FROM read_parquet($p, hive_partitioning = false) ORDER BY {order_by}",
        {"p": str(path)},
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def _types(path: Path) -> dict[str, str]:
    """Column name -> DuckDB type of a written Parquet file."""
    described = duckdb.connect().execute(
        "DESCRIBE SELECT * FROM read_parquet($p, hive_partitioning = false)", {"p": str(path)}
    )
    return {name: kind for name, kind, *_ in described.fetchall()}


def _accepted(paths: DataPaths, model: ModelConfig, day: dt.date = DAY) -> list[dict[str, Any]]:
    path = paths.partition_dir("predictions", model.model_id, day) / "data.parquet"
    return _read(path, order_by="prediction_id")


def _quarantined(
    paths: DataPaths, model: ModelConfig, day: dt.date = DAY, source: str = "predictions"
) -> list[dict[str, Any]]:
    path = paths.partition_dir("quarantine", model.model_id, day) / f"{source}.parquet"
    return _read(path, order_by="source_file, row_number")


def _ingest(
    paths: DataPaths, model: ModelConfig, days: list[dt.date] | None = None
) -> dict[dt.date, DayResult]:
    return ingest_predictions(connect(), paths, model, days or [DAY])


def _check_accounting(paths: DataPaths, model: ModelConfig, result: DayResult) -> None:
    """read = accepted + quarantined, both in the result and in the files on disk."""
    day = result.load.day
    assert result.balanced
    assert len(_accepted(paths, model, day)) == result.accepted
    assert len(_quarantined(paths, model, day)) == result.quarantined


def _reasons(rows: list[dict[str, Any]]) -> list[str]:
    return [r["reason"] for r in rows]


# --- formats -------------------------------------------------------------------------------


def test_parquet_csv_and_jsonl_give_identical_typed_rows(tmp_path: Path) -> None:
    """The format a team logs in must not change what is stored, value for value."""
    model = _binary()
    rows = [_row("p1"), _row("p2", amount=None, channel="app", prediction="0", score="0.25")]
    stored: dict[str, list[dict[str, Any]]] = {}
    for fmt in ("parquet", "csv", "jsonl"):
        paths = DataPaths(tmp_path / fmt)
        folder = _folder(paths, model, DAY)
        if fmt == "csv":
            _write_csv(folder, "part.csv", rows)
        elif fmt == "jsonl":
            native = [
                {**r, "amount": None if r["amount"] is None else float(r["amount"])} for r in rows
            ]
            native = [
                {**r, "prediction": int(r["prediction"]), "score": float(r["score"])}
                for r in native
            ]
            _write_jsonl(folder, "part.jsonl", native)
        else:
            table = pa.table(
                {
                    "prediction_id": ["p1", "p2"],
                    "timestamp": pa.array(
                        [dt.datetime(2024, 3, 1, 10, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")
                    ),
                    "model_version": ["v1", "v1"],
                    "amount": pa.array([10.5, None], pa.float64()),
                    "channel": ["web", "app"],
                    "prediction": pa.array([1, 0], pa.int64()),
                    "score": [0.8, 0.25],
                }
            )
            _write_parquet(folder, "part.parquet", table)
        result = _ingest(paths, model)[DAY]
        assert result.load.error is None
        assert (result.load.rows_read, result.accepted, result.quarantined) == (2, 2, 0)
        _check_accounting(paths, model, result)
        stored[fmt] = [
            {k: v for k, v in r.items() if k != "source_file"} for r in _accepted(paths, model)
        ]

    expected_ts = dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert stored["parquet"] == [
        {
            "model_id": "fraud",
            "date": DAY,
            "prediction_id": "p1",
            "timestamp": expected_ts,
            "model_version": "v1",
            "amount": 10.5,
            "channel": "web",
            "prediction": "1",
            "score": 0.8,
        },
        {
            "model_id": "fraud",
            "date": DAY,
            "prediction_id": "p2",
            "timestamp": expected_ts,
            "model_version": "v1",
            "amount": None,
            "channel": "app",
            "prediction": "0",
            "score": 0.25,
        },
    ]
    assert stored["csv"] == stored["parquet"]
    assert stored["jsonl"] == stored["parquet"]

    path = DataPaths(tmp_path / "csv").partition_dir("predictions", "fraud", DAY) / "data.parquet"
    types = _types(path)
    assert types["amount"] == "DOUBLE"
    assert types["score"] == "DOUBLE"
    assert types["prediction"] == "VARCHAR"
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["date"] == "DATE"


# --- row rules -----------------------------------------------------------------------------


def test_scores_outside_unit_interval_are_quarantined(tmp_path: Path) -> None:
    """A probability outside [0, 1] is a logging bug; the bounds themselves are valid."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1", score="1.5"), _row("p2", score="-0.1"), _row("p3", score="0")]
    rows += [_row("p4", score="1"), _row("p5", score="0.5")]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert (result.load.rows_read, result.accepted, result.quarantined) == (5, 3, 2)
    assert result.reasons == {"score_out_of_range": 2}
    _check_accounting(paths, model, result)
    assert [r["prediction_id"] for r in _accepted(paths, model)] == ["p3", "p4", "p5"]
    quarantined = _quarantined(paths, model)
    assert [(r["row_number"], r["reason"]) for r in quarantined] == [
        (1, "score_out_of_range"),
        (2, "score_out_of_range"),
    ]


def test_non_finite_scores_are_quarantined(tmp_path: Path) -> None:
    """NaN and ±inf scores (native floats in Parquet, tokens in JSON) are not probabilities."""
    paths, model = DataPaths(tmp_path), _binary()
    folder = _folder(paths, model, DAY)
    table = pa.table(
        {
            "prediction_id": ["p1", "p2", "p3", "p4"],
            "timestamp": ["2024-03-01T10:00:00Z"] * 4,
            "amount": [1.0, 2.0, 3.0, 4.0],
            "channel": ["web"] * 4,
            "prediction": [1, 1, 0, 1],
            "score": [math.nan, math.inf, -math.inf, 0.9],
        }
    )
    _write_parquet(folder, "a.parquet", table)
    (folder / "b.jsonl").write_text(
        '{"prediction_id": "p5", "timestamp": "2024-03-01T11:00:00Z", "amount": 1,'
        ' "channel": "web", "prediction": 1, "score": NaN}\n'
        '{"prediction_id": "p6", "timestamp": "2024-03-01T11:00:00Z", "amount": 1,'
        ' "channel": "web", "prediction": 1, "score": "Infinity"}\n',
        encoding="utf-8",
    )

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"score_not_finite:score": 5}
    assert (result.load.rows_read, result.accepted, result.quarantined) == (6, 1, 5)
    _check_accounting(paths, model, result)
    assert [r["prediction_id"] for r in _accepted(paths, model)] == ["p4"]


def test_unparseable_and_missing_scores_have_their_own_reasons(tmp_path: Path) -> None:
    """Text where a number belongs and an empty score are told apart in the reason."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1", score="high"), _row("p2", score=None), _row("p3", score="0.3")]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"unparseable_score:score": 1, "null_score:score": 1}
    assert _reasons(_quarantined(paths, model)) == ["unparseable_score:score", "null_score:score"]
    assert result.accepted == 1
    _check_accounting(paths, model, result)


def test_null_and_duplicate_prediction_ids(tmp_path: Path) -> None:
    """The first occurrence of an id wins, by file name order then row order; nulls never win."""
    paths, model = DataPaths(tmp_path), _binary()
    folder = _folder(paths, model, DAY)
    b = _write_csv(folder, "b.csv", [_row("p2", score="0.9"), _row("p3", score="0.3")])
    a = _write_csv(
        folder,
        "a.csv",
        [
            _row("p1", score="0.1"),
            _row(None),
            _row("p2", score="0.2"),
            _row(" p1 ", score="0.7"),
            _row("  "),
        ],
    )

    result = _ingest(paths, model)[DAY]

    assert (result.load.rows_read, result.accepted, result.quarantined) == (7, 3, 4)
    assert result.reasons == {"null_prediction_id": 2, "duplicate_prediction_id": 2}
    _check_accounting(paths, model, result)
    accepted = _accepted(paths, model)
    assert [(r["prediction_id"], r["score"], r["source_file"]) for r in accepted] == [
        ("p1", 0.1, str(a)),
        ("p2", 0.2, str(a)),
        ("p3", 0.3, str(b)),
    ]
    assert [
        (r["source_file"], r["row_number"], r["reason"]) for r in _quarantined(paths, model)
    ] == [
        (str(a), 2, "null_prediction_id"),
        (str(a), 4, "duplicate_prediction_id"),
        (str(a), 5, "null_prediction_id"),
        (str(b), 1, "duplicate_prediction_id"),
    ]


def test_a_quarantined_first_occurrence_does_not_shadow_a_valid_duplicate(tmp_path: Path) -> None:
    """Only accepted rows claim an id: a corrected re-send of a bad row is kept."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1", score="7"), _row("p1", score="0.7")]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"score_out_of_range": 1}
    assert [(r["prediction_id"], r["score"]) for r in _accepted(paths, model)] == [("p1", 0.7)]
    _check_accounting(paths, model, result)


def test_timestamps_are_checked_against_the_partition_day(tmp_path: Path) -> None:
    """A row filed under the wrong day would be counted twice or never; offsets count."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [
        _row("before", timestamp="2024-02-29T23:59:59Z"),
        _row("after", timestamp="2024-03-02T00:00:00Z"),
        _row("offset", timestamp="2024-03-01T23:30:00-05:00"),
        _row("first", timestamp="2024-03-01T00:00:00Z"),
        _row("last", timestamp="2024-03-01T23:59:59.999Z"),
        _row("shifted_in", timestamp="2024-02-29T22:00:00-05:00"),
        _row("garbage", timestamp="yesterday"),
        _row("empty", timestamp=None),
    ]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {
        "timestamp_outside_partition": 3,
        "unparseable_timestamp": 1,
        "null_timestamp": 1,
    }
    _check_accounting(paths, model, result)
    assert {r["prediction_id"]: r["timestamp"] for r in _accepted(paths, model)} == {
        "first": dt.datetime(2024, 3, 1, tzinfo=UTC),
        "last": dt.datetime(2024, 3, 1, 23, 59, 59, 999000, tzinfo=UTC),
        "shifted_in": dt.datetime(2024, 3, 1, 3, tzinfo=UTC),
    }
    assert [json.loads(r["record"])["prediction_id"] for r in _quarantined(paths, model)] == [
        "before",
        "after",
        "offset",
        "garbage",
        "empty",
    ]


def test_timestamp_without_timezone_is_taken_as_utc(tmp_path: Path) -> None:
    """A naive timestamp is UTC, so 23:30 belongs to its own day and 00:30 to the next."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [
        _row("late", timestamp="2024-03-01 23:30:00"),
        _row("next", timestamp="2024-03-02 00:30:00"),
    ]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"timestamp_outside_partition": 1}
    accepted = _accepted(paths, model)
    assert [(r["prediction_id"], r["timestamp"]) for r in accepted] == [
        ("late", dt.datetime(2024, 3, 1, 23, 30, tzinfo=UTC))
    ]
    _check_accounting(paths, model, result)


def test_wrong_type_in_numeric_feature_keeps_the_raw_record(tmp_path: Path) -> None:
    """Someone has to fix the row: the quarantine says which file, which row, and what it held."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1"), _row("p2", amount="ten"), _row("p3", amount=None), _row("p4", amount="NaN")]
    path = _write_jsonl(_folder(paths, model, DAY), "part.jsonl", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"unparseable_value:amount": 1}
    assert (result.load.rows_read, result.accepted, result.quarantined) == (4, 3, 1)
    _check_accounting(paths, model, result)
    [bad] = _quarantined(paths, model)
    assert bad["model_id"] == "fraud"
    assert bad["date"] == DAY
    assert bad["source"] == "predictions"
    assert bad["source_file"] == str(path)
    assert bad["row_number"] == 2
    assert bad["reason"] == "unparseable_value:amount"
    assert json.loads(bad["record"]) == {
        "prediction_id": "p2",
        "timestamp": "2024-03-01T10:00:00Z",
        "model_version": "v1",
        "amount": "ten",
        "channel": "web",
        "prediction": "1",
        "score": "0.8",
    }
    # Missing and NaN feature values are missing data, not bad rows.
    assert {r["prediction_id"]: r["amount"] for r in _accepted(paths, model)} == {
        "p1": 10.5,
        "p3": None,
        "p4": None,
    }


def test_broken_json_line_is_quarantined_with_its_raw_text(tmp_path: Path) -> None:
    """One broken line must not cost the rest of the file."""
    paths, model = DataPaths(tmp_path), _binary()
    broken = '{"prediction_id": "p2", "timestamp": "2024-03-01T10:00:00Z", "amount": '
    rows: list[dict[str, Any] | str] = [_row("p1"), broken, "[1, 2]", _row("p3")]
    path = _write_jsonl(_folder(paths, model, DAY), "part.jsonl", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"malformed_json_line": 2}
    assert (result.load.rows_read, result.accepted, result.quarantined) == (4, 2, 2)
    _check_accounting(paths, model, result)
    assert [r["prediction_id"] for r in _accepted(paths, model)] == ["p1", "p3"]
    quarantined = _quarantined(paths, model)
    assert [(r["source_file"], r["row_number"]) for r in quarantined] == [
        (str(path), 2),
        (str(path), 3),
    ]
    assert [json.loads(r["record"]) for r in quarantined] == [
        {"raw_line": broken},
        {"raw_line": "[1, 2]"},
    ]


def test_regression_predictions_are_numbers(tmp_path: Path) -> None:
    """A regression model needs no score, and its prediction must be a finite number."""
    paths, model = DataPaths(tmp_path), _regression()
    base = {"timestamp": "2024-03-01T08:00:00Z", "amount": "2", "channel": "web"}
    values = {"r1": "12.5", "r2": "cheap", "r3": "inf", "r4": ""}
    rows = [{"prediction_id": pid, **base, "prediction": v} for pid, v in values.items()]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {
        "unparseable_prediction": 1,
        "prediction_not_finite": 1,
        "null_prediction": 1,
    }
    _check_accounting(paths, model, result)
    [row] = _accepted(paths, model)
    assert (row["prediction_id"], row["prediction"]) == ("r1", 12.5)
    path = paths.partition_dir("predictions", "price", DAY) / "data.parquet"
    assert _types(path)["prediction"] == "DOUBLE"
    assert "score" not in _types(path)


# --- whole files ---------------------------------------------------------------------------


def test_corrupt_parquet_fails_only_its_own_day(tmp_path: Path) -> None:
    """A truncated file fails its day by name, erases that day's old rows, spares the others."""
    paths, model = DataPaths(tmp_path), _binary()
    table = pa.table({k: [v] for k, v in _row("p1").items()})
    bad = _write_parquet(_folder(paths, model, DAY), "part.parquet", table)
    assert _ingest(paths, model)[DAY].accepted == 1

    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    _write_csv(
        _folder(paths, model, DAY2), "part.csv", [_row("q1", timestamp="2024-03-02T09:00:00Z")]
    )
    results = _ingest(paths, model, [DAY, DAY2])

    failed, fine = results[DAY], results[DAY2]
    assert failed.load.error is not None
    assert str(bad) in failed.load.error
    assert "not a readable Parquet file" in failed.load.error
    assert (failed.load.rows_read, failed.accepted, failed.quarantined) == (0, 0, 0)
    assert failed.load.files == [str(bad)]
    _check_accounting(paths, model, failed)  # the old accepted row is gone
    assert fine.load.error is None
    assert (fine.accepted, fine.quarantined) == (1, 0)
    assert [r["prediction_id"] for r in _accepted(paths, model, DAY2)] == ["q1"]


def test_missing_required_column_fails_the_day_by_name(tmp_path: Path) -> None:
    """A file without `score` cannot be judged at all; the message says which file and column."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [{k: v for k, v in _row("p1").items() if k != "score"}]
    path = _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.load.error is not None
    assert result.load.error.startswith(f"{path}: missing required column(s) ['score']")
    assert (result.accepted, result.quarantined) == (0, 0)
    _check_accounting(paths, model, result)


def test_extra_columns_are_ignored_and_reported(tmp_path: Path) -> None:
    """Unknown columns are not an error, but the ingest log says they were there."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1", debug="x", zz_internal="1")]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.load.error is None
    assert result.load.extra_columns == ["debug", "zz_internal"]
    assert result.accepted == 1
    [row] = _accepted(paths, model)
    assert "debug" not in row
    assert "zz_internal" not in row


def test_csv_with_wrong_delimiter_is_a_missing_column_error(tmp_path: Path) -> None:
    """A `;` file reads as one column named after the whole header line: say so, by file."""
    paths, model = DataPaths(tmp_path), _binary()
    path = _folder(paths, model, DAY) / "part.csv"
    header = ";".join(COLUMNS)
    path.write_text(f"{header}\np1;2024-03-01T10:00:00Z;v1;1;web;1;0.5\n", encoding="utf-8")

    result = _ingest(paths, model)[DAY]

    assert result.load.error is not None
    assert result.load.error.startswith(f"{path}: missing required column(s)")
    assert "'prediction_id'" in result.load.error
    assert header in result.load.error
    assert result.accepted == 0


def test_non_utf8_csv_fails_the_day_by_name(tmp_path: Path) -> None:
    """Latin-1 bytes cannot be trusted as text; the message names the file and the encoding."""
    paths, model = DataPaths(tmp_path), _binary()
    path = _folder(paths, model, DAY) / "part.csv"
    path.write_bytes(
        (",".join(COLUMNS) + "\n").encode() + b"p1,2024-03-01T10:00:00Z,v1,1,caf\xe9,1,0.5\n"
    )

    result = _ingest(paths, model)[DAY]

    assert result.load.error is not None
    assert result.load.error.startswith(f"{path}: not UTF-8")
    assert result.accepted == 0
    _check_accounting(paths, model, result)


def test_empty_files_and_missing_days_are_zero_rows_not_errors(tmp_path: Path) -> None:
    """No data is a valid day: it must write empty partitions, not fail."""
    paths, model = DataPaths(tmp_path), _binary()
    folder = _folder(paths, model, DAY)
    (folder / "header_only.csv").write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    (folder / "zero.csv").write_bytes(b"")
    (folder / "zero.jsonl").write_bytes(b"")
    (folder / ".hidden.csv").write_text("garbage", encoding="utf-8")
    (folder / "_SUCCESS").write_bytes(b"")

    results = _ingest(paths, model, [DAY, DAY2])

    for day in (DAY, DAY2):
        result = results[day]
        assert result.load.error is None
        assert (result.load.rows_read, result.accepted, result.quarantined) == (0, 0, 0)
        assert result.reasons == {}
        _check_accounting(paths, model, result)
    assert len(results[DAY].load.files) == 3
    assert results[DAY2].load.files == []


def test_rerun_replaces_the_partition(tmp_path: Path) -> None:
    """Fixing the files and re-running replaces the day; an unchanged re-run changes nothing."""
    paths, model = DataPaths(tmp_path), _binary()
    folder = _folder(paths, model, DAY)
    _write_csv(folder, "part.csv", [_row("p1"), _row("p2", score="2")])
    first = _ingest(paths, model)[DAY]
    assert (first.accepted, first.quarantined) == (1, 1)

    _write_csv(folder, "part.csv", [_row("p1"), _row("p2", score="0.2"), _row("p3")])
    second = _ingest(paths, model)[DAY]
    assert (second.accepted, second.quarantined) == (3, 0)
    _check_accounting(paths, model, second)
    accepted = _accepted(paths, model)
    assert [r["prediction_id"] for r in accepted] == ["p1", "p2", "p3"]
    assert _quarantined(paths, model) == []

    partition = paths.partition_dir("predictions", "fraud", DAY)
    written = (partition / "data.parquet").read_bytes()
    third = _ingest(paths, model)[DAY]
    assert (third.accepted, third.quarantined) == (3, 0)
    assert _accepted(paths, model) == accepted
    assert (partition / "data.parquet").read_bytes() == written
    assert sorted(p.name for p in partition.iterdir()) == ["data.parquet"]


def test_accepted_rows_keep_landing_order_around_rejected_ones(tmp_path: Path) -> None:
    """The day's file lists the accepted rows in the order they landed, across files and with
    rejected rows between them, on enough rows for DuckDB to work in parallel."""
    paths, model = DataPaths(tmp_path), _binary()
    folder = _folder(paths, model, DAY)
    per_file = 150_000
    for index in range(2):
        ids = [f"f{index}-{n:06d}" for n in range(per_file)]
        scores = [2.0 if n % 997 == 13 else 0.5 for n in range(per_file)]
        table = pa.table(
            {
                "prediction_id": ids,
                "timestamp": ["2024-03-01T10:00:00Z"] * per_file,
                "model_version": ["v1"] * per_file,
                "amount": pa.array(range(per_file), pa.float64()),
                "channel": ["web"] * per_file,
                "prediction": ["1"] * per_file,
                "score": scores,
            }
        )
        _write_parquet(folder, f"part-{index}.parquet", table)
    result = _ingest(paths, model)[DAY]
    rejected_per_file = sum(1 for n in range(per_file) if n % 997 == 13)
    assert result.quarantined == 2 * rejected_per_file
    assert result.accepted == 2 * (per_file - rejected_per_file)

    partition = paths.partition_dir("predictions", model.model_id, DAY) / "data.parquet"
    stored = pq.read_table(partition, columns=["prediction_id"])["prediction_id"].to_pylist()
    expected = [f"f{index}-{n:06d}" for index in range(2) for n in range(per_file) if n % 997 != 13]
    assert stored == expected


# --- labels --------------------------------------------------------------------------------


def _label(pid: str, label: Any, ts: str | None = "2024-03-02T12:00:00Z") -> dict[str, Any]:
    return {"prediction_id": pid, "label": label, "label_timestamp": ts}


def test_labels_keep_the_latest_per_prediction_and_reject_unknown_ids(tmp_path: Path) -> None:
    """Within an arrival day the later label_timestamp wins, whatever the row order."""
    paths, model = DataPaths(tmp_path), _binary()
    _write_csv(_folder(paths, model, DAY), "part.csv", [_row("p1"), _row("p2"), _row("p3")])
    _ingest(paths, model)
    labels = [
        _label("p1", "1", "2024-03-02T12:00:00Z"),
        _label("p1", "0", "2024-03-02T09:00:00Z"),
        _label("p9", "1"),
        _label("p2", "0", None),
        _label("p3", None),
    ]
    path = _write_csv(_folder(paths, model, DAY2, "labels"), "labels.csv", labels)

    result = ingest_labels(connect(), paths, model, [DAY2])[DAY2]

    assert (result.load.rows_read, result.accepted, result.quarantined) == (5, 2, 3)
    assert result.balanced
    assert result.reasons == {
        "superseded_by_later_label": 1,
        "unknown_prediction_id": 1,
        "null_label": 1,
    }
    stored = _read(paths.partition_dir("labels", "fraud", DAY2) / "data.parquet", "prediction_id")
    assert [
        (
            r["prediction_id"],
            r["label"],
            r["label_timestamp"],
            r["prediction_date"],
            r["arrival_date"],
        )
        for r in stored
    ] == [
        ("p1", "1", dt.datetime(2024, 3, 2, 12, tzinfo=UTC), DAY, DAY2),
        ("p2", "0", None, DAY, DAY2),
    ]
    quarantined = _quarantined(paths, model, DAY2, "labels")
    assert [(r["row_number"], r["reason"], r["source"]) for r in quarantined] == [
        (2, "superseded_by_later_label", "labels"),
        (3, "unknown_prediction_id", "labels"),
        (5, "null_label", "labels"),
    ]
    assert all(r["source_file"] == str(path) for r in quarantined)
    # The predictions' own quarantine file for that day is a separate file, untouched.
    assert not (paths.partition_dir("quarantine", "fraud", DAY2) / "predictions.parquet").exists()


def test_classes_are_canonical_in_predictions_and_labels(tmp_path: Path) -> None:
    """1, 1.0 and '1' are one class; otherwise metrics would see three classes."""
    paths, model = DataPaths(tmp_path), _binary()
    folder = _folder(paths, model, DAY)
    _write_jsonl(
        folder,
        "a.jsonl",
        [
            {**_row("p1"), "prediction": 1},
            {**_row("p2"), "prediction": 1.0},
            {**_row("p3"), "prediction": "1"},
            {**_row("p4"), "prediction": " 1.0 "},
            {**_row("p5"), "prediction": 0.0},
        ],
    )
    table = pa.table({**{k: [v] for k, v in _row("p6").items()}, "prediction": [1.0]})
    _write_parquet(folder, "b.parquet", table)
    _ingest(paths, model)
    labels = [_label("p1", 1), _label("p2", 1.0), _label("p3", "1"), _label("p5", "0.0")]
    _write_jsonl(_folder(paths, model, DAY2, "labels"), "labels.jsonl", labels)

    result = ingest_labels(connect(), paths, model, [DAY2])[DAY2]

    assert result.accepted == 4
    assert {r["prediction_id"]: r["prediction"] for r in _accepted(paths, model)} == {
        "p1": "1",
        "p2": "1",
        "p3": "1",
        "p4": "1",
        "p5": "0",
        "p6": "1",
    }
    stored = _read(paths.partition_dir("labels", "fraud", DAY2) / "data.parquet", "prediction_id")
    assert [(r["prediction_id"], r["label"]) for r in stored] == [
        ("p1", "1"),
        ("p2", "1"),
        ("p3", "1"),
        ("p5", "0"),
    ]


# --- names from the models file --------------------------------------------------------------


def test_odd_column_names_and_values_are_quoted_not_executed(tmp_path: Path) -> None:
    """Names come from user YAML and values from user files: both must stay data, never SQL."""
    weird, sneaky = 'we"ird col', "it's'); DROP TABLE raw_predictions; --"
    model = ModelConfig(
        model_id="m-1_x",
        task="binary_classification",
        start_date=DAY,
        features={"numerical": [weird], "categorical": [sneaky]},
        segments=[sneaky],
    )
    paths = DataPaths(tmp_path)
    columns = ["prediction_id", "timestamp", weird, sneaky, "prediction", "score"]
    payload = "x'); DROP TABLE accepted_predictions; --"
    rows = [
        dict(zip(columns, ["p1", "2024-03-01T10:00:00Z", "1.5", payload, "1", "0.9"], strict=True)),
        dict(zip(columns, ["p2", "2024-03-01T10:00:00Z", "abc", "b", "0", "0.1"], strict=True)),
    ]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.load.error is None
    assert result.reasons == {f"unparseable_value:{weird}": 1}
    _check_accounting(paths, model, result)
    [row] = _accepted(paths, model)
    assert (row[weird], row[sneaky]) == (1.5, payload)
    [bad] = _quarantined(paths, model)
    assert json.loads(bad["record"])[weird] == "abc"


@pytest.mark.parametrize("model_id", ["../x", "a/b", 'x"y', "x y", "", ".hidden"])
def test_model_ids_that_could_escape_a_folder_are_rejected(model_id: str) -> None:
    """The id names landing and warehouse folders, so it must not be able to leave them."""
    with pytest.raises(ValidationError, match="model id"):
        _binary(model_id=model_id)


# --- known defects -------------------------------------------------------------------------


def test_csv_cells_are_read_exactly_as_written(tmp_path: Path) -> None:
    """CSV must agree with the other formats: only an empty cell is missing."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1", channel="NA"), _row("p2", score="NaN")]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.reasons == {"score_not_finite:score": 1}
    assert [(r["prediction_id"], r["channel"]) for r in _accepted(paths, model)] == [("p1", "NA")]


def test_huge_numeric_class_does_not_abort_the_ingest(tmp_path: Path) -> None:
    """One odd value must cost at most its own row."""
    paths, model = DataPaths(tmp_path), _binary()
    rows = [_row("p1", prediction="1e20"), _row("p2")]
    _write_csv(_folder(paths, model, DAY), "part.csv", rows)

    result = _ingest(paths, model)[DAY]

    assert result.balanced
    assert result.load.rows_read == 2


def test_label_accounting_holds_when_an_id_was_accepted_on_two_days(tmp_path: Path) -> None:
    """read = accepted + quarantined must hold for labels whatever the predictions hold."""
    paths, model = DataPaths(tmp_path), _binary()
    _write_csv(_folder(paths, model, DAY), "part.csv", [_row("p1")])
    _write_csv(
        _folder(paths, model, DAY2), "part.csv", [_row("p1", timestamp="2024-03-02T10:00:00Z")]
    )
    _ingest(paths, model, [DAY])
    _ingest(paths, model, [DAY2])
    _write_csv(_folder(paths, model, DAY2, "labels"), "labels.csv", [_label("p1", "1")])

    result = ingest_labels(connect(), paths, model, [DAY2])[DAY2]

    assert result.load.rows_read == 1
    assert result.balanced


def test_an_id_accepted_on_an_earlier_day_is_a_duplicate_however_days_are_batched(
    tmp_path: Path,
) -> None:
    """The daily run and a backfill must agree: `p1` resent a day later is quarantined."""
    outcomes = []
    for batched in (True, False):
        paths, model = DataPaths(tmp_path / str(batched)), _binary()
        _write_csv(_folder(paths, model, DAY), "part.csv", [_row("p1"), _row("p2")])
        resent = [
            _row("p1", timestamp="2024-03-02T10:00:00Z"),
            _row("p3", timestamp="2024-03-02T11:00:00Z"),
        ]
        _write_csv(_folder(paths, model, DAY2), "part.csv", resent)
        if batched:
            result = _ingest(paths, model, [DAY, DAY2])[DAY2]
        else:
            _ingest(paths, model, [DAY])
            result = _ingest(paths, model, [DAY2])[DAY2]
        outcomes.append((result.accepted, result.quarantined, result.reasons))
    assert outcomes[0] == outcomes[1] == (1, 1, {"duplicate_prediction_id": 1})


def test_the_duplicate_window_is_bounded_and_configurable(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    model = _binary(quality={"duplicate_window_days": 0})
    _write_csv(_folder(paths, model, DAY), "part.csv", [_row("p1")])
    _write_csv(
        _folder(paths, model, DAY2), "part.csv", [_row("p1", timestamp="2024-03-02T10:00:00Z")]
    )
    _ingest(paths, model, [DAY])
    assert _ingest(paths, model, [DAY2])[DAY2].accepted == 1
