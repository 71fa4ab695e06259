"""A model whose daily performance has not landed by its deadline is stale, visibly and loudly.

The freshness check is Dagster's own, run on a temporary instance against the real definitions;
the freshness-alerts sensor then writes a `freshness` alert for the missing day and asks for it
to be sent once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from perf_pipeline.definitions import build_definitions
from perf_pipeline.freshness import DEFAULT_DEADLINE_HOUR_UTC, FRESHNESS_CHECK
from perf_pipeline.lake import connect, day_files, read_files_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.sample_data import MODELS_YAML

MODEL = "card_fraud"
PERFORMANCE = dg.AssetKey([MODEL, "performance"])
CHECK = dg.AssetCheckKey(PERFORMANCE, FRESHNESS_CHECK)


def _expected_missing_day(now: dt.datetime) -> dt.date:
    """Yesterday once today's deadline has passed, the day before yesterday until then."""
    passed_today = now.hour >= DEFAULT_DEADLINE_HOUR_UTC
    deadline_day = now.date() if passed_today else now.date() - dt.timedelta(days=1)
    return deadline_day - dt.timedelta(days=1)


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
    defs = build_definitions(tmp_path)
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        yield DataPaths(tmp_path), defs, instance


def _run_freshness_check(paths: DataPaths, defs: dg.Definitions, instance) -> bool:
    """Evaluate the check as its sensor would: a run of the check alone."""
    checks = [c for c in defs.asset_checks or [] if CHECK in c.check_keys]
    result = dg.materialize(
        [defs.resolve_assets_def(PERFORMANCE), *checks],
        selection=dg.AssetSelection.checks(CHECK),
        instance=instance,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation.passed


def _sensor_result(paths: DataPaths, defs: dg.Definitions, instance, cursor: str | None):
    sensor = defs.resolve_sensor_def(f"{MODEL}__freshness_alerts")
    context = dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        cursor=cursor,
        resources={"storage": PipelineStorage(data_root=str(paths.root))},
    )
    return sensor(context), context.cursor


def test_performance_carries_a_freshness_check_with_its_own_sensor(project) -> None:
    _, defs, _ = project
    assert CHECK in defs.resolve_asset_graph().asset_check_keys
    sensor = defs.resolve_sensor_def(f"{MODEL}__freshness_checks")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_missing_day_fails_the_check_and_raises_one_freshness_alert(project) -> None:
    paths, defs, instance = project
    missing = _expected_missing_day(dt.datetime.now(dt.UTC))
    assert not _run_freshness_check(paths, defs, instance)

    request, cursor = _sensor_result(paths, defs, instance, None)
    assert isinstance(request, dg.RunRequest)
    files = day_files(paths, "alerts", MODEL, [missing], "freshness.parquet")
    query = f"SELECT alert_id, kind, metric_or_column FROM {read_files_sql(files)}"
    ((alert_id, kind, subject),) = connect().execute(query).fetchall()
    assert (kind, subject) == ("freshness", "performance")
    assert request.run_config["ops"]["send_alerts"]["config"]["alert_ids"] == [alert_id]
    again, _ = _sensor_result(paths, defs, instance, cursor)
    assert isinstance(again, dg.SkipReason)  # the same failure is alerted once


def test_a_landed_day_passes_the_check_and_raises_nothing(project) -> None:
    paths, defs, instance = project
    missing = _expected_missing_day(dt.datetime.now(dt.UTC))
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=PERFORMANCE, partition=missing.isoformat())
    )
    assert _run_freshness_check(paths, defs, instance)
    result, _ = _sensor_result(paths, defs, instance, None)
    assert isinstance(result, dg.SkipReason)
    assert not day_files(paths, "alerts", MODEL, [missing], "freshness.parquet")
