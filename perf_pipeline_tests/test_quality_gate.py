"""The data-quality gate through real Dagster and Great Expectations, on a tiny data root.

Three days of a binary model: a clean day, a day with a category the reference never saw
(recorded, not blocking) and a day whose feature arrives null (blocked). The tests hold the gate
to its contract: the right verdict per day, the evidence on the check, the downstream effect.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths

START = dt.date(2026, 3, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
CLEAN, UNSEEN_CATEGORY, NULL_FEATURE = DAYS
MODEL = "gate_model"

MODELS_YAML = f"""
models:
  {MODEL}:
    task: binary_classification
    features:
      numerical: [amount, constant]
      categorical: [channel]
    segments: [channel]
    start_date: {START.isoformat()}
    min_labelled_rows: 10
    thresholds:
      roc_auc: {{min: 0.0}}
{{quality}}
"""


def _frame(rng: np.random.Generator, n: int, day: dt.date | None) -> pd.DataFrame:
    start = pd.Timestamp(day or START - dt.timedelta(days=10), tz="UTC")
    score = rng.random(n)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i}" for i in range(n)],
            "timestamp": start + pd.to_timedelta(rng.integers(0, 86_000, n), unit="s"),
            "model_version": "v1",
            "amount": rng.normal(100, 10, n),
            "constant": 1.0,
            "channel": rng.choice(["web", "app"], n),
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "label": (rng.random(n) < score).astype(int),
        }
    )


def _data_root(root: Path, quality: str = "") -> DataPaths:
    paths = DataPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    paths.models_file.write_text(MODELS_YAML.replace("{quality}", quality), encoding="utf-8")
    rng = np.random.default_rng(7)
    reference = paths.landing_reference(MODEL)
    reference.mkdir(parents=True)
    _frame(rng, 300, None).to_parquet(reference / "reference.parquet", index=False)
    for day in DAYS:
        frame = _frame(rng, 200, day)
        if day == UNSEEN_CATEGORY:
            frame.loc[:59, "channel"] = "crypto"
        if day == NULL_FEATURE:
            frame["amount"] = np.nan
        folder = paths.landing_day("predictions", MODEL, day)
        folder.mkdir(parents=True)
        frame.drop(columns="label").to_parquet(folder / "part-0.parquet", index=False)
        labels = paths.landing_day("labels", MODEL, day + dt.timedelta(days=1))
        labels.mkdir(parents=True, exist_ok=True)
        frame[["prediction_id", "label"]].to_parquet(labels / f"from-{day}.parquet", index=False)
    return paths


def _range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
    }


def _quality_rows(paths: DataPaths) -> pd.DataFrame:
    frame = connect().execute(f"SELECT * FROM {read_table_sql(paths, 'data_quality')}").df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def _row(rows: pd.DataFrame, day: dt.date, expectation: str) -> pd.Series:
    match = rows[(rows["date"] == day) & (rows["expectation"] == expectation)]
    assert len(match) == 1, (day, expectation)
    return match.iloc[0]


def _check_evaluation(instance: dg.DagsterInstance, name: str, asset: str = "data_quality"):
    key = dg.AssetCheckKey(dg.AssetKey([MODEL, asset]), name)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    return records[0].event.dagster_event.event_specific_data


@pytest.fixture
def backfilled(tmp_path: Path):
    paths = _data_root(tmp_path / "data")
    defs = build_definitions(paths.root)
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def(daily_job_name(MODEL))
        result = job.execute_in_process(instance=instance, tags=_range_tags(DAYS[0], DAYS[-1]))
        yield paths, defs, instance, result


def test_each_day_gets_its_own_verdict_in_a_backfill(backfilled) -> None:
    paths, _, _, result = backfilled
    assert result.success
    rows = _quality_rows(paths)
    unseen = _row(rows, UNSEEN_CATEGORY, "channel_in_reference_categories")
    assert not unseen["success"] and unseen["severity"] == "warning"
    assert unseen["unexpected_count"] == 60 and "crypto" in json.loads(unseen["sample_values"])
    nulls = _row(rows, NULL_FEATURE, "amount_null_rate")
    assert (
        not nulls["success"] and nulls["severity"] == "error" and nulls["unexpected_count"] == 200
    )
    constant = _row(rows, CLEAN, "constant_in_reference_range")
    assert constant["success"]

    performance = (
        connect()
        .execute(
            f"SELECT DISTINCT CAST(date AS VARCHAR) FROM {read_table_sql(paths, 'performance')}"
        )
        .fetchall()
    )
    assert sorted(d for (d,) in performance) == [CLEAN.isoformat(), UNSEEN_CATEGORY.isoformat()]
    alerts = (
        connect()
        .execute(
            "SELECT CAST(date AS VARCHAR), kind, metric_or_column "
            f"FROM {read_table_sql(paths, 'alerts')}"
        )
        .fetchall()
    )
    assert alerts == [(NULL_FEATURE.isoformat(), "data_quality", "amount_null_rate")]


def test_the_check_carries_the_evidence(backfilled) -> None:
    _, _, instance, _ = backfilled
    evaluation = _check_evaluation(instance, "channel_in_reference_categories")
    assert not evaluation.passed
    assert evaluation.metadata["column"].value == "channel"
    evidence = evaluation.metadata[UNSEEN_CATEGORY.isoformat()].value
    assert evidence["unexpected_count"] == 60 and "crypto" in evidence["sample_values"]
    assert _check_evaluation(instance, "logs_present").passed


def test_a_blocked_daily_run_skips_downstream_and_says_why(backfilled) -> None:
    _, defs, instance, _ = backfilled
    job = defs.resolve_job_def(daily_job_name(MODEL))
    result = job.execute_in_process(
        partition_key=NULL_FEATURE.isoformat(), instance=instance, raise_on_error=False
    )
    assert not result.success
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    failed = {e.step_key for e in result.all_events if e.is_step_failure}
    assert failed == {f"{MODEL}__data_quality"}
    assert not {f"{MODEL}__performance", f"{MODEL}__drift", f"{MODEL}__alerts"} & started
    evaluation = _check_evaluation(instance, "amount_null_rate")
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["failed_days"].value == NULL_FEATURE.isoformat()


def test_labels_have_their_own_checks(backfilled) -> None:
    paths, _, instance, _ = backfilled
    rows = _quality_rows(paths)
    arrival = CLEAN + dt.timedelta(days=1)
    assert _row(rows, arrival, "labels_files_readable")["success"]
    assert _row(rows, arrival, "labels_known_prediction_ids")["success"]
    assert _check_evaluation(instance, "labels_valid_values", "labels").passed


def test_unknown_and_unreadable_labels_are_reported(tmp_path: Path) -> None:
    paths = _data_root(tmp_path / "data")
    arrival = DAYS[-1] + dt.timedelta(days=1)
    folder = paths.landing_day("labels", MODEL, arrival)
    # 20 labels for predictions never made, beside the 200 real ones: 9 % > the 5 % tolerated.
    stray = pd.DataFrame({"prediction_id": [f"nobody-{i}" for i in range(20)], "label": 1})
    stray.to_parquet(folder / "stray.parquet", index=False)
    defs = build_definitions(paths.root)
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def(daily_job_name(MODEL))
        assert job.execute_in_process(instance=instance, tags=_range_tags(DAYS[0], arrival)).success
        rows = _quality_rows(paths)
        unknown = _row(rows, arrival, "labels_known_prediction_ids")
        assert not unknown["success"] and unknown["unexpected_count"] == 20

        (folder / "stray.parquet").write_bytes(b"PAR1 broken")
        labels_only = [dg.AssetKey([MODEL, "labels"])]
        rerun = job.execute_in_process(
            instance=instance, partition_key=arrival.isoformat(), asset_selection=labels_only
        )
        assert rerun.success  # labels never block: the error is recorded and alerted
        unreadable = _row(_quality_rows(paths), arrival, "labels_files_readable")
        assert not unreadable["success"] and "stray.parquet" in unreadable["observed_value"]
        assert not _check_evaluation(instance, "labels_files_readable", "labels").passed
        alerts = (
            connect()
            .execute(
                f"SELECT metric_or_column FROM {read_table_sql(paths, 'alerts')} "
                f"WHERE date = DATE '{arrival.isoformat()}' ORDER BY 1"
            )
            .fetchall()
        )
        # The arrival day has no prediction logs of its own, hence its freshness alert too.
        assert alerts == [("labels_files_readable",), ("logs_present",)]


def test_the_models_file_can_relax_an_expectation(tmp_path: Path) -> None:
    relaxed = "    quality:\n      severity: {amount_null_rate: warning, quarantine_share: 'off'}"
    paths = _data_root(tmp_path / "data", relaxed)
    defs = build_definitions(paths.root)
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert "quarantine_share" not in checks and "amount_null_rate" in checks
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def(daily_job_name(MODEL))
        result = job.execute_in_process(instance=instance, partition_key=NULL_FEATURE.isoformat())
        assert result.success
    assert _row(_quality_rows(paths), NULL_FEATURE, "amount_null_rate")["severity"] == "warning"


def test_warm_workers_judge_each_day_as_the_process_does(backfilled, monkeypatch) -> None:
    """The command's gate validates days in workers forked from its warm server
    (`warm_workers.py`): the verdicts, evidence and sample values are the process's own."""
    from perf_pipeline import warm_workers
    from perf_pipeline.config import load_models
    from perf_pipeline.quality.gate import assess_days

    paths = backfilled[0]
    model = load_models(paths.models_file)[MODEL]
    in_process = assess_days(connect(), paths, model, DAYS)
    monkeypatch.setattr(warm_workers, "_started_here", True)
    monkeypatch.setenv(warm_workers.WORKERS_ENV, "2")
    in_workers = assess_days(connect(), paths, model, DAYS)
    assert in_workers == in_process
    assert in_workers[NULL_FEATURE].blocked and not in_workers[UNSEEN_CATEGORY].blocked
