"""A daily run reads what its days can need, not the whole history.

The label recheck looks its candidate arrival days up in its index instead of opening every
quarantine and labels file of the model: a corrupt file on an arrival day the run cannot affect
is never opened, while a label quarantined because its prediction came late is still found, with
or without the index (a lake written before it).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.label_recheck import days_to_recheck
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.predictions import ingest_predictions
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths

START = dt.date(2024, 3, 1)
MODEL = "m"


def _day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def _model() -> ModelConfig:
    return ModelConfig(
        model_id=MODEL,
        task="binary_classification",
        start_date=START,
        features={"numerical": ["amount"], "categorical": ["channel"]},
    )


def _write_csv(folder: Path, rows: list[dict[str, str]], name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _ids(n: int) -> list[str]:
    return [f"p{n:02d}-{i}" for i in range(3)]


def _land_predictions(paths: DataPaths, n: int) -> None:
    day = _day(n)
    rows = [
        {
            "prediction_id": pid,
            "timestamp": f"{day.isoformat()}T10:00:00Z",
            "model_version": "v1",
            "amount": "10.5",
            "channel": "web",
            "prediction": "1",
            "score": "0.8",
        }
        for pid in _ids(n)
    ]
    _write_csv(paths.landing_day("predictions", MODEL, day), rows, "p.csv")


def _land_labels(paths: DataPaths, n: int, ids: list[str]) -> None:
    rows = [{"prediction_id": pid, "label": "1"} for pid in ids]
    _write_csv(paths.landing_day("labels", MODEL, _day(n)), rows, "l.csv")


def _daily(paths: DataPaths, model: ModelConfig, n: int) -> dict:
    """One day as the schedule runs it: its predictions (noted), then its labels."""
    ingest_predictions(connect(), paths, model, [_day(n)])
    return ingest_labels(connect(), paths, model, [_day(n)])


def _history(paths: DataPaths, model: ModelConfig, days: int, late: int) -> None:
    """`days` daily runs; each day's labels are for the day before's predictions. Day `late`'s
    predictions are not there yet, so its labels (arriving the day after) are quarantined."""
    for n in range(days):
        if n != late:
            _land_predictions(paths, n)
        if n:
            _land_labels(paths, n, _ids(n - 1))
        _daily(paths, model, n)


def _corrupt(paths: DataPaths, n: int) -> None:
    """Make day `n`'s stored labels and quarantined labels unreadable: opening them fails."""
    for table, name in (("labels", "data.parquet"), ("quarantine", "labels.parquet")):
        (paths.partition_dir(table, MODEL, _day(n)) / name).write_bytes(b"not parquet")


def _unknown_ids(paths: DataPaths, n: int) -> list[str]:
    path = paths.partition_dir("quarantine", MODEL, _day(n)) / "labels.parquet"
    rows = duckdb.connect().execute(
        "SELECT record FROM read_parquet($p, hive_partitioning = false) "
        "WHERE reason = 'unknown_prediction_id'",
        {"p": str(path)},
    )
    return sorted(json.loads(record)["prediction_id"] for (record,) in rows.fetchall())


def test_a_daily_run_does_not_open_arrival_days_it_cannot_affect(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    _history(paths, model, days=8, late=2)
    assert _unknown_ids(paths, 3) == _ids(2)  # day 3 holds quarantined labels
    _corrupt(paths, 3)  # and is far outside what day 8's predictions can change

    _land_predictions(paths, 8)
    _land_labels(paths, 8, _ids(7))
    results = _daily(paths, model, 8)

    assert sorted(results) == [_day(8)]
    assert results[_day(8)].accepted == 3


def test_a_late_prediction_day_frees_its_quarantined_labels(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    _history(paths, model, days=8, late=2)
    # Arrival day 1 holds labels of day 0 only: a prediction day 2 written again cannot touch
    # them (the later arrival days it can, and they are read).
    _corrupt(paths, 1)

    _land_predictions(paths, 2)  # day 2's predictions land at last and are ingested
    ingest_predictions(connect(), paths, model, [_day(2)])
    _land_predictions(paths, 8)
    results = _daily(paths, model, 8)

    assert sorted(results) == [_day(3), _day(8)]  # day 3 was read again
    assert results[_day(3)].accepted == 3 and results[_day(3)].quarantined == 0
    assert _unknown_ids(paths, 3) == []


def test_a_lake_without_the_index_is_read_whole_until_a_run_builds_it(tmp_path: Path) -> None:
    paths, model = DataPaths(tmp_path), _model()
    _history(paths, model, days=6, late=2)
    index = paths.warehouse / "_labels_recheck" / f"model={MODEL}" / "index"
    shutil.rmtree(index)  # a lake written before the index existed

    _land_predictions(paths, 2)
    ingest_predictions(connect(), paths, model, [_day(2)])
    found = days_to_recheck(connect(), paths, MODEL, [_day(6)], [_day(2)])
    assert found == [_day(3)]  # found by reading every file

    _land_predictions(paths, 6)
    assert sorted(_daily(paths, model, 6)) == [_day(3), _day(6)]
    assert (index / "complete").exists()  # that run built the index
    _corrupt(paths, 4)
    _land_predictions(paths, 7)
    assert sorted(_daily(paths, model, 7)) == [_day(7)]


# --- the estimator's windows -----------------------------------------------------------------


def _estimation_rows(paths: DataPaths, days: int) -> None:
    """`days` days of two metrics' `estimation_quality` rows: `roc_auc` misses on a few
    stretches (its window trips and recovers), `accuracy` is judgeable on every fifth day only
    (its windows reach far back) and misses on four of them in a row."""
    import pandas as pd

    from perf_pipeline.lake import write_frame_partitions
    from perf_pipeline.tables.estimation_quality import SCHEMA, TABLE

    rows = []
    for n in range(days):
        for metric, inside, labelled in (
            ("roc_auc", not (20 <= n % 45 < 26), 500),
            ("accuracy", n not in (80, 85, 90, 95), 500 if n % 5 == 0 else 3),
        ):
            error = 0.002 * (1 + n % 4)
            rows.append(
                {
                    "model_id": MODEL,
                    "date": _day(n),
                    "segment_column": "__all__",
                    "segment_value": "__all__",
                    "metric": metric,
                    "estimated": 0.8,
                    "ci_low": 0.78,
                    "ci_high": 0.82,
                    "realized": 0.8 + error,
                    "error": error,
                    "abs_error": error,
                    "inside_interval": inside,
                    "n_estimated": 1000,
                    "n_labelled": labelled,
                }
            )
    frame = pd.DataFrame(rows)
    every = [_day(n) for n in range(days)]
    write_frame_partitions(connect(), paths, TABLE, MODEL, frame, SCHEMA, every)


def test_the_estimator_windows_read_a_bounded_stretch_with_the_same_alerts(
    tmp_path: Path,
) -> None:
    from perf_pipeline.alerts.estimator_quality import estimator_quality_alerts, window_history
    from perf_pipeline.tables.estimation_quality import read_through

    paths, model = DataPaths(tmp_path), _model()
    _estimation_rows(paths, 110)
    raised: set[tuple[dt.date, str]] = set()
    runs = [[_day(n)] for n in range(110)] + [[_day(n) for n in range(a, a + 6)] for a in (0, 91)]
    for days in runs:
        whole = read_through(connect(), paths, MODEL, max(days))
        bounded = window_history(connect(), paths, model, days)
        expected = estimator_quality_alerts(model, whole, days)
        assert estimator_quality_alerts(model, bounded, days) == expected, days
        raised |= {(a.date, a.metric_or_column) for a in expected}
    assert {metric for _, metric in raised} == {"roc_auc", "accuracy"}  # both windows tripped

    (paths.partition_dir("estimation_quality", MODEL, _day(3)) / "data.parquet").write_bytes(b"x")
    late = window_history(connect(), paths, model, [_day(109)])
    assert min(late["date"]) > _day(3)  # a day's windows do not reach back to day 3
