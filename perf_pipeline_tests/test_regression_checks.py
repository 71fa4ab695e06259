"""Regression checks, per-partition observations, column schemas, owners and tags, through
real Dagster runs on the four-day scenario (`report_scenario.py`)."""

from __future__ import annotations

import dagster as dg
import pytest

from perf_pipeline.assets.column_schemas import COLUMN_SCHEMA
from perf_pipeline_tests.report_scenario import (
    BLOCKED,
    DAYS,
    HEALTHY,
    MODEL,
    RECOVERED,
    REGRESSED,
    definitions,
    run_range,
    write_scenario,
)

pytestmark = pytest.mark.slow  # four real runs of the whole model (about a minute)
ROC_CHECK = dg.AssetCheckKey(dg.AssetKey([MODEL, "performance"]), "roc_auc_within_bounds")
DRIFT_CHECK = dg.AssetCheckKey(dg.AssetKey([MODEL, "drift"]), "dataset_drift")


def _latest(instance: dg.DagsterInstance, key: dg.AssetCheckKey):
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    return records[0].event.dagster_event.event_specific_data


def _observations(instance: dg.DagsterInstance, stage: str, day) -> list[dict]:
    result = instance.fetch_observations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([MODEL, stage]), asset_partitions=[day.isoformat()]
        ),
        limit=10,
    )
    return [r.asset_observation.metadata for r in result.records]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    paths = write_scenario(tmp_path_factory.mktemp("root"))
    defs = definitions(paths)
    home = tmp_path_factory.mktemp("home")
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        backfill = run_range(defs, instance, DAYS[0], DAYS[-1])
        yield {"paths": paths, "defs": defs, "instance": instance, "backfill": backfill}


def test_backfill_checks_name_the_regressed_and_blocked_days(scenario) -> None:
    roc = _latest(scenario["instance"], ROC_CHECK)
    assert not roc.passed and roc.severity == dg.AssetCheckSeverity.ERROR
    assert roc.metadata["regressed_days"].value == REGRESSED.isoformat()
    assert roc.metadata["blocked_days"].value == BLOCKED.isoformat()
    drift = _latest(scenario["instance"], DRIFT_CHECK)
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["regressed_days"].value == REGRESSED.isoformat()


def test_each_partition_carries_its_own_facts_after_a_single_run_backfill(scenario) -> None:
    instance = scenario["instance"]
    roc = {d: _observations(instance, "performance", d)[0]["roc_auc"].value for d in DAYS[:3]}
    assert roc[REGRESSED] < 0.65 < min(roc[HEALTHY], roc[RECOVERED])
    assert len(set(roc.values())) == 3
    shares = {d: _observations(instance, "drift", d)[0]["drift_share"].value for d in DAYS[:3]}
    assert shares[REGRESSED] >= 0.5 > max(shares[HEALTHY], shares[RECOVERED])
    rows = {d: _observations(instance, "predictions", d)[0]["rows_read"].value for d in DAYS}
    assert rows == {HEALTHY: 400, REGRESSED: 400, RECOVERED: 400, BLOCKED: 0}
    blocked = _observations(instance, "performance", BLOCKED)[0]
    assert blocked["blocked"].value == 1 and "logs_present" in blocked["blocked_reason"].value


def test_a_run_over_the_observed_days_limit_says_so_instead_of_observing_each_day(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the limit no day gets an observation (they cost an event each), and the
    materialization attached to every partition says where the days' facts are instead."""
    from perf_pipeline.assets.observations import MAX_OBSERVED_DAYS_ENV

    monkeypatch.setenv(MAX_OBSERVED_DAYS_ENV, "2")
    paths = write_scenario(tmp_path / "root")
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        run_range(definitions(paths), instance, DAYS[0], DAYS[-1])
        for stage in ("predictions", "performance", "drift", "report"):
            assert all(_observations(instance, stage, d) == [] for d in (HEALTHY, RECOVERED))
            latest = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey([MODEL, stage]), asset_partitions=[HEALTHY.isoformat()]
                ),
                limit=1,
            ).records[0]
            note = latest.asset_materialization.metadata["day_facts"].value
            assert f"a run of {len(DAYS)} days" in note and "=2" in note
        # Blocked days still say so on the stages they emptied: those are few.
        assert _observations(instance, "performance", BLOCKED)[0]["blocked"].value == 1


def test_daily_runs_turn_red_on_the_regression_and_green_on_recovery(scenario) -> None:
    defs, instance = scenario["defs"], scenario["instance"]
    run_range(defs, instance, REGRESSED, REGRESSED)
    regressed = _latest(instance, ROC_CHECK)
    assert not regressed.passed and regressed.severity == dg.AssetCheckSeverity.ERROR
    assert regressed.metadata["last_value"].value < 0.65
    assert not _latest(instance, DRIFT_CHECK).passed

    result = run_range(defs, instance, RECOVERED, RECOVERED)
    assert result.success
    assert _latest(instance, ROC_CHECK).passed and _latest(instance, DRIFT_CHECK).passed
    own = result.asset_materializations_for_node(f"{MODEL}__performance")
    materialization = next(m for m in own if m.partition == RECOVERED.isoformat())
    assert materialization.metadata["roc_auc"].value > 0.7


def test_a_blocked_daily_run_fails_the_downstream_checks_saying_why(scenario) -> None:
    defs, instance = scenario["defs"], scenario["instance"]
    result = run_range(defs, instance, BLOCKED, BLOCKED)
    assert not result.success
    for key in (ROC_CHECK, DRIFT_CHECK):
        evaluation = _latest(instance, key)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert "blocked at the data-quality gate" in evaluation.description
        assert "logs_present" in evaluation.description


def test_table_assets_declare_columns_owners_and_tags(scenario) -> None:
    defs = scenario["defs"]
    for stage, column in [
        ("performance", "metric"),
        ("drift", "psi"),
        ("data_quality", "expectation"),
        ("predictions", "amount"),
        ("labels", "label"),
    ]:
        spec = defs.get_assets_def(dg.AssetKey([MODEL, stage])).specs_by_key[
            dg.AssetKey([MODEL, stage])
        ]
        schema = spec.metadata[COLUMN_SCHEMA]
        assert column in [c.name for c in schema.columns]
        assert list(spec.owners) == ["team:fraud", "risk@example.com"]
        assert spec.tags["domain"] == "payments"
