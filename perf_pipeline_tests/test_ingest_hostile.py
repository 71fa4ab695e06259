"""Regression tests for hostile landing input: each test is one way a file once hurt the ingest.

Every test writes real files under `tmp_path`, runs the real ingest on a real DuckDB connection
and reads back what was written to the lake (the predictions, labels, quarantine and ingest_log
partitions), so the assertions are about what a user would find.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.log import write_ingest_log
from perf_pipeline.ingest.predictions import DayResult, ingest_predictions
from perf_pipeline.ingest.rules import MAX_VALUE_CHARS
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths

DAY1, DAY2, DAY3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
HEADER = ["prediction_id", "timestamp", "model_version", "amount", "channel", "prediction", "score"]


def _model(task: str = "binary_classification", **overrides: Any) -> ModelConfig:
    extra: dict[str, Any] = {
        "multiclass_classification": {"classes": ["a", "b", "c"]},
        "ranking": {"k": 2},
    }.get(task, {})
    return ModelConfig(
        model_id="m",
        task=task,
        start_date=DAY1,
        features={"numerical": ["amount"], "categorical": ["channel"]},
        segments=["channel"],
        **{**extra, **overrides},
    )


def _row(pid: str, day: dt.date = DAY1, task: str = "binary_classification", **values: Any):
    """A valid prediction record of `task` for `day`, as text."""
    row: dict[str, Any] = {
        "prediction_id": pid,
        "timestamp": f"{day.isoformat()}T10:00:00Z",
        "model_version": "v1",
        "amount": "10.5",
        "channel": "web",
        "prediction": {"multiclass_classification": "a", "ranking": '["x", "y"]'}.get(task, "1"),
        "score": "0.8",
    }
    if task == "multiclass_classification":
        row.update({"score_a": "0.5", "score_b": "0.3", "score_c": "0.2"})
    if task in ("regression", "ranking"):
        row["prediction"] = "3.5" if task == "regression" else row["prediction"]
        del row["score"]
    row.update(values)
    return row


def _folder(paths: DataPaths, day: dt.date, source: str = "predictions") -> Path:
    folder = paths.landing_day(source, "m", day)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_csv(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = folder / name
    header = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([["" if r.get(c) is None else r[c] for c in header] for r in rows])
    return path


def _write_jsonl(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(paths: DataPaths, table: str, day: dt.date, file: str = "data.parquet") -> list[dict]:
    path = paths.partition_dir(table, "m", day) / file
    if not path.exists():
        return []
    rel = duckdb.connect().execute(
        "SELECT * FROM read_parquet($p, hive_partitioning = false)", {"p": str(path)}
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def _quarantined(paths: DataPaths, day: dt.date = DAY1, source: str = "predictions") -> list:
    rows = _read(paths, "quarantine", day, f"{source}.parquet")
    return sorted(rows, key=lambda r: (r["source_file"], r["row_number"]))


def _ingest(paths: DataPaths, model: ModelConfig, days=(DAY1,)) -> dict[dt.date, DayResult]:
    return ingest_predictions(connect(), paths, model, list(days))


def _balanced(results: dict[dt.date, DayResult]) -> bool:
    return all(r.balanced and r.load.error is None for r in results.values())


# --- 1. ranking lists ---------------------------------------------------------------------------


def test_ranking_prediction_or_label_that_is_not_a_json_list_is_quarantined(tmp_path: Path):
    """`a,b,c` for a list once passed the ingest and failed `performance` for the whole range."""
    from perf_pipeline.tables import performance as performance_table

    paths, model = DataPaths(tmp_path), _model("ranking")
    rows = [
        _row("ok", task="ranking"),
        _row("csv_text", task="ranking", prediction="a,b,c"),
        _row("nested", task="ranking", prediction='["a", ["b"]]'),
        _row("scalar", task="ranking", prediction="5"),
        _row("null_item", task="ranking", prediction='["a", null]'),
        _row("empty_list", task="ranking", prediction="[]"),
    ]
    _write_csv(_folder(paths, DAY1), "p.csv", rows)
    results = _ingest(paths, model)
    labels = [
        {"prediction_id": "ok", "label": "x,y"},
        {"prediction_id": "empty_list", "label": '["x"]'},
    ]
    _write_csv(_folder(paths, DAY1, "labels"), "l.csv", labels)
    label_results = ingest_labels(connect(), paths, model, [DAY1])

    assert _balanced(results) and _balanced(label_results)
    assert sorted(r["prediction_id"] for r in _read(paths, "predictions", DAY1)) == [
        "empty_list",
        "ok",
    ]
    assert {json.loads(r["record"])["prediction_id"]: r["reason"] for r in _quarantined(paths)} == {
        "csv_text": "unparseable_prediction",
        "nested": "unparseable_prediction",
        "scalar": "unparseable_prediction",
        "null_item": "unparseable_prediction",
    }
    assert [r["reason"] for r in _quarantined(paths, source="labels")] == ["unparseable_label"]
    frame = performance_table.compute_days(connect(), paths, model, [DAY1])
    assert not frame.empty  # the day's metrics compute: nothing malformed reached them


# --- 2. classes ---------------------------------------------------------------------------------


def test_binary_labels_outside_the_two_classes_are_quarantined(tmp_path: Path) -> None:
    """`2`, `yes`, `-1` or `true` were once stored and counted as negatives."""
    paths, model = DataPaths(tmp_path), _model()
    ids = ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]
    _write_csv(_folder(paths, DAY1), "p.csv", [_row(i) for i in ids])
    _ingest(paths, model)
    values = ["0", "1.0", "2", "yes", "-1", "true", " 1 "]
    labels = [{"prediction_id": i, "label": v} for i, v in zip(ids, values, strict=True)]
    _write_csv(_folder(paths, DAY2, "labels"), "l.csv", labels)

    result = ingest_labels(connect(), paths, model, [DAY2])[DAY2]

    assert result.balanced
    stored = {r["prediction_id"]: r["label"] for r in _read(paths, "labels", DAY2)}
    assert stored == {"p0": "0", "p1": "1", "p6": "1"}
    assert result.reasons == {"unknown_label_class": 4}
    rejected = [json.loads(r["record"])["label"] for r in _quarantined(paths, DAY2, "labels")]
    assert rejected == ["2", "yes", "-1", "true"]


def test_binary_prediction_is_optional_but_checked_when_present(tmp_path: Path) -> None:
    """A blank prediction is stored NULL (the threshold decides); a present one must be a class.
    A file without the column at all is accepted too."""
    paths, model = DataPaths(tmp_path), _model()
    rows = [
        _row("blank", prediction=""),
        _row("yes", prediction="yes"),
        _row("two", prediction="2"),
    ]
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("ok", prediction="0.0"), *rows])
    no_column = {k: v for k, v in _row("no_column").items() if k != "prediction"}
    _write_csv(_folder(paths, DAY1), "q.csv", [no_column])

    result = _ingest(paths, model)[DAY1]

    assert result.load.error is None and result.balanced
    stored = {r["prediction_id"]: r["prediction"] for r in _read(paths, "predictions", DAY1)}
    assert stored == {"ok": "0", "blank": None, "no_column": None}
    assert result.reasons == {"unknown_prediction_class": 2}


@pytest.mark.parametrize(
    ("task", "bad", "reason"),
    [
        ("multiclass_classification", "d", "unknown_prediction_class"),
        ("multiclass_classification", "", "null_prediction"),
        ("regression", "", "null_prediction"),
        ("ranking", "", "null_prediction"),
    ],
)
def test_other_tasks_need_a_prediction_of_their_kind(
    tmp_path: Path, task: str, bad: str, reason: str
) -> None:
    paths, model = DataPaths(tmp_path), _model(task)
    rows = [_row("ok", task=task), _row("bad", task=task, prediction=bad)]
    _write_csv(_folder(paths, DAY1), "p.csv", rows)

    result = _ingest(paths, model)[DAY1]

    assert (result.accepted, result.reasons) == (1, {reason: 1})


# --- 3. column names the pipeline uses itself ---------------------------------------------------


def test_columns_named_like_internal_ones_neither_crash_nor_lose_the_record(tmp_path: Path):
    """`__row_number`, `__source_file`, `__day`, `__file_index` as extra columns, and a JSON key
    `__raw_line`, once crashed the range or turned a good row into a "broken line"."""
    paths, model = DataPaths(tmp_path), _model()
    internal = {
        "__row_number": "x",
        "__source_file": "/etc/passwd",
        "__day": "1999-01-01",
        "__file_index": "-7",
        "__ingest@row_number": "y",
        "__ingest@reason": "z",
    }
    _write_csv(_folder(paths, DAY1), "a.csv", [{**_row("c1"), **internal}])
    jsonl = [
        {**_row("j1"), "__raw_line": "not me", "__ingest@raw_line": "nor me"},
        {**_row("j2", score="7"), "__raw_line": "x"},
    ]
    _write_jsonl(_folder(paths, DAY1), "b.jsonl", jsonl)

    result = _ingest(paths, model)[DAY1]

    assert result.load.error is None and result.balanced
    stored = _read(paths, "predictions", DAY1)
    assert sorted(r["prediction_id"] for r in stored) == ["c1", "j1"]
    assert {r["source_file"] for r in stored} == {
        str(_folder(paths, DAY1) / "a.csv"),
        str(_folder(paths, DAY1) / "b.jsonl"),
    }
    assert set(result.load.extra_columns) == {*internal, "__raw_line", "__ingest@raw_line"}
    (bad,) = _quarantined(paths)
    assert (bad["reason"], bad["row_number"]) == ("score_out_of_range", 2)
    assert json.loads(bad["record"]) == {**_row("j2", score="7")}


# --- 4. labels waiting for their prediction -----------------------------------------------------


def test_quarantined_labels_are_rechecked_once_their_prediction_is_known(tmp_path: Path):
    """Labels that arrived while their prediction day was broken stayed quarantined for good."""
    paths, model = DataPaths(tmp_path), _model()
    broken = _folder(paths, DAY1) / "p.parquet"
    broken.write_bytes(b"PAR1 truncated")
    _ingest(paths, model, [DAY1])
    _write_csv(_folder(paths, DAY2, "labels"), "l.csv", [{"prediction_id": "p1", "label": "1"}])
    assert ingest_labels(connect(), paths, model, [DAY2])[DAY2].reasons == {
        "unknown_prediction_id": 1
    }

    broken.unlink()
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("p1")])
    _ingest(paths, model, [DAY1])
    results = ingest_labels(connect(), paths, model, [DAY3])

    assert sorted(results) == [DAY2, DAY3]  # the arrival day re-checked is reported too
    assert results[DAY2].accepted == 1 and results[DAY2].quarantined == 0
    assert [(r["prediction_id"], r["prediction_date"]) for r in _read(paths, "labels", DAY2)] == [
        ("p1", DAY1)
    ]
    assert _quarantined(paths, DAY2, "labels") == []
    # Bounded and idempotent: nothing is left to re-check, so the next run reads its own day.
    assert sorted(ingest_labels(connect(), paths, model, [DAY3])) == [DAY3]


def test_labels_for_predictions_that_never_came_are_not_rechecked(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("p1")])
    _ingest(paths, model, [DAY1])
    _write_csv(_folder(paths, DAY2, "labels"), "l.csv", [{"prediction_id": "ghost", "label": "1"}])
    ingest_labels(connect(), paths, model, [DAY2])

    assert sorted(ingest_labels(connect(), paths, model, [DAY3])) == [DAY3]


# --- 5 and 6. links and misnamed folders --------------------------------------------------------


def test_symbolic_links_in_the_landing_zone_are_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A link to /etc/passwd once landed its lines in ingest_log and alert messages."""
    paths, model = DataPaths(tmp_path / "root"), _model()
    secret = tmp_path / "secret.csv"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _write_csv(elsewhere, "p.csv", [_row("linked")])
    folder = _folder(paths, DAY1)
    _write_csv(folder, "real.csv", [_row("p1")])
    (folder / "passwd.csv").symlink_to(secret)
    (folder / "linked_folder").symlink_to(elsewhere, target_is_directory=True)
    folder2 = paths.landing_day("predictions", "m", DAY2)
    folder2.parent.mkdir(parents=True, exist_ok=True)
    folder2.symlink_to(elsewhere, target_is_directory=True)

    with caplog.at_level(logging.WARNING):
        results = _ingest(paths, model, [DAY1, DAY2])
    write_ingest_log(connect(), paths, model, "predictions", results)

    assert [r["prediction_id"] for r in _read(paths, "predictions", DAY1)] == ["p1"]
    assert results[DAY2].load.rows_read == 0 and results[DAY2].load.files == []
    log1 = _read(paths, "ingest_log", DAY1, "predictions.parquet")[0]
    assert json.loads(log1["skipped"]) == [
        {"path": str(folder / "linked_folder"), "why": "symbolic link (not followed)"},
        {"path": str(folder / "passwd.csv"), "why": "symbolic link (not followed)"},
    ]
    log2 = _read(paths, "ingest_log", DAY2, "predictions.parquet")[0]
    assert json.loads(log2["skipped"]) == [
        {"path": str(folder2), "why": "symbolic link (not followed)"}
    ]
    everything = json.dumps([log1, log2], default=str)
    assert "root:x" not in everything
    assert "passwd.csv" in caplog.text and "not followed" in caplog.text


def test_misnamed_day_folders_are_reported_not_silently_ignored(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    model_folder = paths.landing / "predictions" / "model=m"
    for name in ("date=2024-3-2", "date=2024-02-30", "date=..", "date=20240301", "notes"):
        (model_folder / name).mkdir(parents=True)
        _write_csv(model_folder / name, "p.csv", [_row("p")])
    (model_folder / "date=..").joinpath("x").mkdir()
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("p1")])
    (_folder(paths, DAY1) / "nested").mkdir()

    results = _ingest(paths, model, [DAY1, DAY2])

    def skipped(day: dt.date) -> set[str]:
        return {Path(s.path).name for s in results[day].load.skipped}

    no_day = {"date=2024-02-30", "date=..", "date=20240301", "notes"}
    assert skipped(DAY1) == {*no_day, "nested"}
    assert skipped(DAY2) == {*no_day, "date=2024-3-2"}  # the day it was surely meant for
    assert results[DAY2].load.rows_read == 0
    assert all("date=YYYY-MM-DD" in s.why for s in results[DAY2].load.skipped)


# --- 7. CSV as real exports write it ------------------------------------------------------------


def test_a_csv_field_over_a_megabyte_is_read(tmp_path: Path) -> None:
    """pyarrow's 1 MB block once failed the whole day on one big field (9 MB here)."""
    paths, model = DataPaths(tmp_path), _model()
    _write_csv(_folder(paths, DAY1), "p.csv", [{**_row("p1"), "notes": "x" * 9_000_000}])

    result = _ingest(paths, model)[DAY1]

    assert (result.load.error, result.accepted) == (None, 1)


def test_ragged_csv_rows_are_quarantined_with_their_text(tmp_path: Path) -> None:
    """A row with too many or too few fields once failed its whole day."""
    paths, model = DataPaths(tmp_path), _model()
    good = ",".join(_row("p1").values())
    text = "\n".join(
        [
            ",".join(HEADER),
            good,
            good.replace("p1", "p2") + ",extra",
            "p3,2024-03-01T10:00:00Z",
            '"p4","2024-03-01T10:00:00Z",v1,1,"two\nlines",1,0.5',
            good.replace("p1", "p5"),
        ]
    )
    (_folder(paths, DAY1) / "p.csv").write_text(text + "\n", encoding="utf-8")

    result = _ingest(paths, model)[DAY1]

    assert result.balanced and result.load.rows_read == 5
    stored = {r["prediction_id"]: r["channel"] for r in _read(paths, "predictions", DAY1)}
    assert stored == {"p1": "web", "p4": "two\nlines", "p5": "web"}
    bad = [(r["row_number"], r["reason"], json.loads(r["record"])) for r in _quarantined(paths)]
    assert bad == [
        (2, "malformed_csv_row", {"raw_line": good.replace("p1", "p2") + ",extra"}),
        (3, "malformed_csv_row", {"raw_line": "p3,2024-03-01T10:00:00Z"}),
    ]


def test_byte_level_quirks_of_csv_exports(tmp_path: Path) -> None:
    """BOM, CRLF, a trailing blank line, quoted newlines and NUL bytes read as written; the row
    number counts records, so the one after a two-line value is still row 3."""
    paths, model = DataPaths(tmp_path), _model()
    lines = [
        ",".join(HEADER),
        "p1,2024-03-01T10:00:00Z,v1,1.5,web,1,0.5",
        'p2,2024-03-01T10:00:00Z,v1,2.5,"multi\r\nline",0,0.25',
        "p3,2024-03-01T10:00:00Z,v1,nul\x00byte,web,1,0.5",
    ]
    data = "\ufeff" + "\r\n".join(lines) + "\r\n\r\n"
    (_folder(paths, DAY1) / "p.csv").write_bytes(data.encode("utf-8"))

    result = _ingest(paths, model)[DAY1]

    assert result.load.error is None and result.balanced and result.load.rows_read == 3
    stored = {r["prediction_id"]: r["channel"] for r in _read(paths, "predictions", DAY1)}
    assert stored == {"p1": "web", "p2": "multi\r\nline"}
    (bad,) = _quarantined(paths)
    assert (bad["row_number"], bad["reason"]) == (3, "unparseable_value:amount")
    assert json.loads(bad["record"])["amount"] == "nul\x00byte"


def test_csv_that_is_not_utf8_past_the_header_fails_its_day_by_name(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    path = _folder(paths, DAY1) / "latin1.csv"
    body = ",".join(HEADER) + "\n" + "p1,2024-03-01T10:00:00Z,v1,1,caf\xe9,1,0.5\n"
    path.write_bytes(body.encode("latin-1"))

    result = _ingest(paths, model)[DAY1]

    assert result.load.error is not None and str(path) in result.load.error
    assert "UTF8" in result.load.error or "UTF-8" in result.load.error


# --- 8. one bad prediction ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "bad"),
    [
        ("binary_classification", "maybe"),
        ("multiclass_classification", "zebra"),
        ("regression", "3,5"),
        ("ranking", "x y"),
    ],
)
def test_one_unparseable_prediction_quarantines_its_row_not_the_day(
    tmp_path: Path, task: str, bad: str
) -> None:
    paths, model = DataPaths(tmp_path), _model(task)
    rows = [_row("ok", task=task), _row("bad", task=task, prediction=bad)]
    _write_csv(_folder(paths, DAY1), "p.csv", rows)

    result = _ingest(paths, model)[DAY1]

    assert result.load.error is None and result.balanced
    assert [r["prediction_id"] for r in _read(paths, "predictions", DAY1)] == ["ok"]
    assert [json.loads(r["record"])["prediction"] for r in _quarantined(paths)] == [bad]


# --- 9. empty Parquet ---------------------------------------------------------------------------


def test_zero_byte_parquet_is_corrupt_but_zero_byte_text_is_empty(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    (_folder(paths, DAY1) / "cut.parquet").write_bytes(b"")
    (_folder(paths, DAY2) / "empty.csv").write_bytes(b"")
    (_folder(paths, DAY2) / "empty.jsonl").write_bytes(b"")

    results = _ingest(paths, model, [DAY1, DAY2])

    assert "cut.parquet" in (results[DAY1].load.error or "")
    assert "0 bytes" in (results[DAY1].load.error or "")
    assert results[DAY2].load.error is None and results[DAY2].load.rows_read == 0


# --- 10. huge values ----------------------------------------------------------------------------


def test_an_over_long_value_is_quarantined_and_kept_truncated(tmp_path: Path) -> None:
    """One 50 MB category once cost 6.2 GB of memory and a 315 MB report downstream."""
    paths, model = DataPaths(tmp_path), _model()
    huge = "z" * (MAX_VALUE_CHARS * 5 + 3)
    table = pa.table({k: [v] for k, v in _row("p1", channel=huge).items()})
    pq.write_table(
        pa.concat_tables([table, pa.table({k: [v] for k, v in _row("p2").items()})]),
        _folder(paths, DAY1) / "p.parquet",
    )

    result = _ingest(paths, model)[DAY1]

    assert (result.accepted, result.reasons) == (1, {"value_too_long:channel": 1})
    (bad,) = _quarantined(paths)
    kept = json.loads(bad["record"])["channel"]
    assert kept == {"truncated": huge[:MAX_VALUE_CHARS], "original_length": len(huge)}
    assert len(bad["record"]) < 2 * MAX_VALUE_CHARS
    assert json.loads(bad["record"])["prediction_id"] == "p1"


def test_a_value_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("p1", channel="y" * MAX_VALUE_CHARS)])

    assert _ingest(paths, model)[DAY1].accepted == 1


# --- duplicates across days, ingested out of order ----------------------------------------------


def test_a_day_ingested_before_the_day_it_duplicates_is_judged_again(tmp_path: Path) -> None:
    """Day 3 first, then day 1 with the same id: day 3's copy becomes the duplicate, as in one
    run of days 1-3, and day 3 comes back in the result so its ingest log is rewritten."""
    paths, model = DataPaths(tmp_path), _model()
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("same", DAY1)])
    _write_csv(_folder(paths, DAY3), "p.csv", [_row("same", DAY3), _row("other", DAY3)])
    _ingest(paths, model, [DAY3])

    results = _ingest(paths, model, [DAY1])

    assert sorted(results) == [DAY1, DAY3]
    assert [r["prediction_id"] for r in _read(paths, "predictions", DAY3)] == ["other"]
    assert [r["reason"] for r in _quarantined(paths, DAY3)] == ["duplicate_prediction_id"]
    # A run that changes nothing elsewhere reads its own days only.
    assert sorted(_ingest(paths, model, [DAY1])) == [DAY1]


def test_a_duplicate_outside_the_window_is_accepted_in_one_run_too(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model(quality={"duplicate_window_days": 1})
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("same", DAY1)])
    _write_csv(_folder(paths, DAY3), "p.csv", [_row("same", DAY3)])

    results = _ingest(paths, model, [DAY1, DAY2, DAY3])

    assert (results[DAY1].accepted, results[DAY3].accepted) == (1, 1)


# --- through Dagster ----------------------------------------------------------------------------


def test_the_predictions_asset_records_skipped_paths_in_the_ingest_log(tmp_path: Path) -> None:
    """The asset writes the `skipped` column the ingest fills (misnamed folder, a link)."""
    from perf_pipeline.definitions import build_definitions

    (tmp_path / "models.yaml").write_text(
        "models:\n  m:\n    task: binary_classification\n    start_date: 2024-03-01\n"
        "    features: {numerical: [amount], categorical: [channel]}\n",
        encoding="utf-8",
    )
    paths = DataPaths(tmp_path)
    _write_csv(_folder(paths, DAY1), "p.csv", [_row("p1")])
    (paths.landing / "predictions" / "model=m" / "date=2024-3-1").mkdir()
    os.symlink(tmp_path / "models.yaml", _folder(paths, DAY1) / "models.csv")
    defs = build_definitions(tmp_path)
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = dg.materialize(
            [defs.resolve_assets_def(dg.AssetKey(["m", "predictions"]))],
            partition_key=DAY1.isoformat(),
            instance=instance,
        )
    assert result.success
    (log,) = _read(paths, "ingest_log", DAY1, "predictions.parquet")
    assert (log["accepted"], log["quarantined"]) == (1, 0)
    assert {Path(s["path"]).name for s in json.loads(log["skipped"])} == {
        "date=2024-3-1",
        "models.csv",
    }
