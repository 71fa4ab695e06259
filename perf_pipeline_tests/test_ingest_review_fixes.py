"""Regression tests for the ingest and config review: each test is one problem it found.

Real files under `tmp_path`, the real ingest on a real DuckDB connection, the lake read back; the
models file is written and loaded as a user's would be.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import duckdb
import pytest

from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.drift.registry import method_names
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.log import write_ingest_log
from perf_pipeline.ingest.predictions import ingest_predictions, required_columns
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths
from perf_pipeline.scaffold import add_model

DAY1, DAY2, DAY3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
SYMLINK = "symbolic link (not followed)"


def _model(**overrides: Any) -> ModelConfig:
    return ModelConfig(
        model_id="m",
        task="binary_classification",
        start_date=DAY1,
        features={"numerical": ["amount"], "categorical": ["channel"]},
        **overrides,
    )


def _row(pid: str, day: dt.date = DAY1, **values: Any) -> dict[str, str]:
    row = {
        "prediction_id": pid,
        "timestamp": f"{day.isoformat()}T10:00:00Z",
        "model_version": "v1",
        "amount": "10.5",
        "channel": "web",
        "prediction": "1",
        "score": "0.8",
    }
    return {**row, **values}


def _write_csv(folder: Path, rows: list[dict[str, str]], name: str = "p.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _predictions(paths: DataPaths, day: dt.date, ids: list[str]) -> Path:
    return _write_csv(paths.landing_day("predictions", "m", day), [_row(i, day) for i in ids])


def _labels(paths: DataPaths, day: dt.date, ids: list[str]) -> Path:
    rows = [{"prediction_id": i, "label": "1"} for i in ids]
    return _write_csv(paths.landing_day("labels", "m", day), rows, "l.csv")


def _ingest(paths: DataPaths, model: ModelConfig, days: list[dt.date]) -> dict[dt.date, Any]:
    return ingest_predictions(connect(), paths, model, days)


def _read(paths: DataPaths, table: str, day: dt.date, file: str = "data.parquet") -> list[dict]:
    path = paths.partition_dir(table, "m", day) / file
    if not path.exists():
        return []
    rel = duckdb.connect().execute(
        "SELECT * FROM read_parquet($p, hive_partitioning = false)", {"p": str(path)}
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def _stored_labels(paths: DataPaths, day: dt.date) -> list[tuple[str, dt.date]]:
    return sorted((r["prediction_id"], r["prediction_date"]) for r in _read(paths, "labels", day))


def _label_reasons(paths: DataPaths, day: dt.date) -> list[tuple[str, str]]:
    rows = _read(paths, "quarantine", day, "labels.parquet")
    return sorted((json.loads(r["record"])["prediction_id"], r["reason"]) for r in rows)


# --- 1. labels whose prediction disappeared or moved --------------------------------------------


def test_labels_are_rechecked_when_their_prediction_is_quarantined_on_a_rerun(tmp_path: Path):
    """A prediction day re-run after its file changed: its accepted labels stayed in `labels`."""
    paths, model = DataPaths(tmp_path), _model()
    _predictions(paths, DAY1, ["p1", "p2"])
    _ingest(paths, model, [DAY1])
    _labels(paths, DAY2, ["p1", "p2"])
    ingest_labels(connect(), paths, model, [DAY2])
    assert _stored_labels(paths, DAY2) == [("p1", DAY1), ("p2", DAY1)]

    rows = [_row("p1"), _row("p2", score="7")]  # p2 is now out of range: quarantined
    _write_csv(paths.landing_day("predictions", "m", DAY1), rows)
    _ingest(paths, model, [DAY1])
    results = ingest_labels(connect(), paths, model, [DAY3])

    assert sorted(results) == [DAY2, DAY3]  # the arrival day re-checked is reported too
    assert _stored_labels(paths, DAY2) == [("p1", DAY1)]
    assert _label_reasons(paths, DAY2) == [("p2", "unknown_prediction_id")]
    assert results[DAY2].balanced
    # Once re-checked, nothing is left to do: the next run reads its own day only.
    assert sorted(ingest_labels(connect(), paths, model, [DAY3])) == [DAY3]


def test_labels_follow_their_prediction_to_the_day_it_is_accepted_on(tmp_path: Path) -> None:
    """Day 1 ingested late with an id day 2 had: day 2's copy becomes the duplicate, and the
    label's `prediction_date` must move to day 1 with the accepted copy."""
    paths, model = DataPaths(tmp_path), _model()
    _predictions(paths, DAY1, ["same"])
    _predictions(paths, DAY2, ["same", "other"])
    _ingest(paths, model, [DAY2])
    _labels(paths, DAY3, ["same", "other"])
    ingest_labels(connect(), paths, model, [DAY3])
    assert _stored_labels(paths, DAY3) == [("other", DAY2), ("same", DAY2)]

    assert sorted(_ingest(paths, model, [DAY1])) == [DAY1, DAY2]  # day 2 judged again
    ingest_labels(connect(), paths, model, [DAY1])

    assert _stored_labels(paths, DAY3) == [("other", DAY2), ("same", DAY1)]


def test_labels_are_rechecked_when_predictions_run_alone(tmp_path: Path) -> None:
    """The predictions of a day re-run on their own, the labels days later: what changed in
    between is still seen, and a re-run that changes nothing re-reads no arrival day."""
    paths, model = DataPaths(tmp_path), _model()
    _predictions(paths, DAY1, ["p1"])
    _ingest(paths, model, [DAY1])
    _labels(paths, DAY2, ["p1"])
    ingest_labels(connect(), paths, model, [DAY2])

    _ingest(paths, model, [DAY1])  # nothing changed
    assert sorted(ingest_labels(connect(), paths, model, [DAY3])) == [DAY3]

    _predictions(paths, DAY1, ["p9"])
    _ingest(paths, model, [DAY1])
    _ingest(paths, model, [DAY2])  # another predictions run before the labels run
    assert sorted(ingest_labels(connect(), paths, model, [DAY3])) == [DAY2, DAY3]
    assert _stored_labels(paths, DAY2) == []
    assert _label_reasons(paths, DAY2) == [("p1", "unknown_prediction_id")]
    assert list(paths.warehouse.rglob("*.json")) == []  # the notes acted on are gone


# --- 2. the label lookup reads what the run's labels need ---------------------------------------


def test_the_prediction_lookup_keeps_only_the_ids_the_runs_labels_name(tmp_path: Path) -> None:
    """It grouped the model's whole predictions history on every labels run."""
    paths, model = DataPaths(tmp_path), _model()
    _predictions(paths, DAY1, ["p1", "p2", "p3"])
    _predictions(paths, DAY2, ["p4"])
    _ingest(paths, model, [DAY1, DAY2])
    _labels(paths, DAY3, [" p2", "p4", "ghost"])
    con = connect()

    ingest_labels(con, paths, model, [DAY3])

    known = con.execute("SELECT * FROM known_predictions ORDER BY 1").fetchall()
    assert known == [("p2", DAY1), ("p4", DAY2)]
    assert _stored_labels(paths, DAY3) == [("p2", DAY1), ("p4", DAY2)]


# --- 3. links on the way to a day folder --------------------------------------------------------


@pytest.mark.parametrize("linked", ["model=m", "predictions"])
def test_a_linked_model_or_source_folder_is_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, linked: str
) -> None:
    """Only the day folder itself was checked: a linked `model=m` or `predictions/` folder
    brought files from outside the landing zone into the lake."""
    paths, model = DataPaths(tmp_path / "root"), _model()
    outside = tmp_path / "outside"
    _write_csv(outside / "model=m" / "date=2024-03-01", [_row("stolen")])
    link = paths.landing / "predictions"
    target = outside
    if linked == "model=m":
        link, target = link / "model=m", outside / "model=m"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)

    with caplog.at_level(logging.WARNING):
        results = _ingest(paths, model, [DAY1, DAY2])
    write_ingest_log(connect(), paths, model, "predictions", results)

    assert [r.load.rows_read for r in results.values()] == [0, 0]
    assert _read(paths, "predictions", DAY1) == []
    for day in (DAY1, DAY2):
        (log,) = _read(paths, "ingest_log", day, "predictions.parquet")
        assert json.loads(log["skipped"]) == [{"path": str(link), "why": SYMLINK}]
    assert str(link) in caplog.text and "not followed" in caplog.text


def test_a_linked_reference_folder_is_not_followed(tmp_path: Path) -> None:
    from perf_pipeline.ingest.listing import landing_files

    paths = DataPaths(tmp_path / "root")
    outside = tmp_path / "outside" / "model=m"
    _write_csv(outside, [_row("stolen")])
    paths.landing.mkdir(parents=True)
    (paths.landing / "reference").symlink_to(outside.parent, target_is_directory=True)

    assert landing_files(paths.landing_reference("m")) == []
    assert landing_files(outside, outside.parent) == [outside / "p.csv"]  # a plain folder is read


# --- 4. add-model with keys after `models:` -----------------------------------------------------

MODELS_THEN_NOTIFICATIONS = """\
# Our models.
models:
  good:
    task: regression   # demand forecast
    features: {numerical: [x]}
    start_date: 2026-01-01

    # (more to come)

# Where alerts go.
notifications:
  - {kind: log}
"""


def test_add_model_inserts_into_the_models_block_before_other_keys(tmp_path: Path) -> None:
    """With `notifications:` after `models:`, the entry landed under the list: a YAML error."""
    file = tmp_path / "models.yaml"
    file.write_text(MODELS_THEN_NOTIFICATIONS, encoding="utf-8")

    add_model(DataPaths(tmp_path), "churn", "binary_classification")

    text = file.read_text(encoding="utf-8")
    assert list(load_models(file)) == ["good", "churn"]
    head, tail = MODELS_THEN_NOTIFICATIONS.split("\n\n# Where alerts go.\n")
    assert text.startswith(head + "\n  churn:\n")  # after the block's last (comment) line
    assert text.endswith("\n# Where alerts go.\n" + tail)  # the rest kept byte for byte


def test_add_model_lists_the_registered_drift_methods(tmp_path: Path) -> None:
    add_model(DataPaths(tmp_path), "churn", "regression")
    (line,) = [
        line
        for line in (tmp_path / "models.yaml").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("methods:")
    ]
    assert line.endswith("# column: " + "|".join(method_names()))


# --- 5. one definition of the score columns -----------------------------------------------------


class _RenamedScore(ModelConfig):
    """A model whose declared score column differs from the built-in rule."""

    @property
    def score_columns(self) -> list[str]:
        return ["probability"]


def test_the_ingest_reads_the_score_columns_the_model_declares() -> None:
    model = _RenamedScore(model_id="m", task="binary_classification", start_date=DAY1, features={})
    assert required_columns(model)[-1:] == ["probability"]


# --- 6. how far re-judging duplicates goes ------------------------------------------------------


def test_rejudging_duplicates_follows_days_whose_files_changed_to_the_end(tmp_path: Path):
    """The bound the `duplicates` docstring states: with unchanged files, one extra pass within
    `window` after the run; days whose files changed since they were ingested carry the chain
    on (here to `3 * window` after the run), and the lake ends as one run of every day leaves it.
    """
    window = 2
    model = _model(quality={"duplicate_window_days": window})
    days = [DAY1 + dt.timedelta(days=2 * i) for i in range(4)]  # 1st, 3rd, 5th, 7th
    chain = {days[0]: ["a"], days[1]: ["a", "b"], days[2]: ["b", "c"], days[3]: ["c"]}

    def land(paths: DataPaths, files: dict[dt.date, list[str]]) -> None:
        for day, ids in files.items():
            _predictions(paths, day, ids)

    paths = DataPaths(tmp_path / "runs")
    land(paths, {days[0]: ["a"], days[1]: ["a"], days[2]: ["b"], days[3]: ["c"]})
    _ingest(paths, model, days[1:])
    assert sorted(_ingest(paths, model, [days[0]])) == days[:2]  # unchanged files: one pass
    land(paths, {days[0]: ["x"]})
    assert sorted(_ingest(paths, model, [days[0]])) == days[:2]
    land(paths, chain)  # days 3, 5 changed without a re-run

    assert sorted(_ingest(paths, model, [days[0]])) == days  # 6 days after the run

    once = DataPaths(tmp_path / "once")
    land(once, chain)
    _ingest(once, model, days)
    for day in days:
        assert _read(paths, "predictions", day) == [
            {**r, "source_file": r["source_file"].replace("/once/", "/runs/")}
            for r in _read(once, "predictions", day)
        ]
