"""The reference is rebuilt only when its files, the model's settings or its code change.

Daily runs materialize `<model>/reference` (so a new model's first run builds it), but a day
whose reference inputs are unchanged reuses the stored one: same files, same fitted CBPE
calibration, a data version equal to the inputs' hash. Changing the landing file, a setting or
the code version rebuilds it, and the calibration fitted beside it follows the new reference.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from landing_zone import binary_frame, write_binary_root, write_reference_frame

from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.estimation.cbpe import reference_calibration, stored_calibration_path
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths
from perf_pipeline.stages import reference as reference_stage

MODEL = "versioned"
DAYS = [dt.date(2026, 5, 1), dt.date(2026, 5, 2), dt.date(2026, 5, 3)]
MODELS_YAML = f"""
models:
  {MODEL}:
    task: binary_classification
    decision_threshold: {{threshold}}
    features:
      numerical: [amount]
    start_date: {DAYS[0].isoformat()}
"""
REFERENCE_KEY = dg.AssetKey([MODEL, "reference"])


def _models_yaml(threshold: float = 0.5) -> str:
    return MODELS_YAML.replace("{threshold}", str(threshold))


def _stored(paths: DataPaths) -> Path:
    return paths.partition_dir("reference", MODEL, None) / "data.parquet"


def _calibration(paths: DataPaths) -> Path:
    model = load_models(paths.models_file)[MODEL]
    return stored_calibration_path(paths, model, None)


def _run_day(paths: DataPaths, instance: dg.DagsterInstance, day: dt.date) -> dict:
    """One daily run; the reference materialization's metadata and data version."""
    job = build_definitions(paths.root).resolve_job_def(daily_job_name(MODEL))
    result = job.execute_in_process(partition_key=day.isoformat(), instance=instance)
    assert result.success
    event = instance.get_latest_materialization_event(REFERENCE_KEY)
    materialization = event.asset_materialization
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    metadata["data_version"] = materialization.tags.get("dagster/data_version")
    metadata["run_id"] = event.run_id
    return metadata


def _calibration_matches_stored_reference(paths: DataPaths) -> bool:
    """The stored calibration's key is the one the current stored reference asks for: loading
    it refits nothing (the file is unchanged by the call)."""
    before = _calibration(paths).read_bytes()
    model = load_models(paths.models_file)[MODEL]
    assert reference_calibration(connect(), paths, model) is not None
    return _calibration(paths).read_bytes() == before


@pytest.fixture
def root(tmp_path: Path) -> DataPaths:
    paths = write_binary_root(tmp_path / "root", _models_yaml(), MODEL, DAYS)
    write_reference_frame(paths, MODEL, binary_frame(np.random.default_rng(5), 600, DAYS[0]))
    return paths


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        yield instance


@pytest.mark.slow  # each daily run costs a few seconds; the module about a minute
def test_two_daily_runs_build_the_reference_once_and_a_new_file_rebuilds_it(
    root: DataPaths, instance
) -> None:
    first = _run_day(root, instance, DAYS[0])
    built = _stored(root).stat()
    calibration = _calibration(root).read_bytes()
    second = _run_day(root, instance, DAYS[1])
    assert first["rebuilt"] is True
    assert second["rebuilt"] is False
    assert second["run_id"] != first["run_id"]  # recorded by the second run, not computed
    assert (_stored(root).stat().st_ino, _stored(root).stat().st_mtime_ns) == (
        built.st_ino,
        built.st_mtime_ns,
    )
    assert _calibration(root).read_bytes() == calibration
    assert first["data_version"] == second["data_version"] == first["inputs_sha256"]
    assert second["rows"] == first["rows"] == 600
    metrics = {k: v for k, v in first.items() if k.startswith("reference_")}
    assert metrics and all(second[k] == v for k, v in metrics.items())

    old_key = json.loads(_calibration(root).read_text())["key"]
    write_reference_frame(root, MODEL, binary_frame(np.random.default_rng(9), 800, DAYS[0]))
    changed = _run_day(root, instance, DAYS[2])
    assert changed["rebuilt"] is True
    assert changed["rows"] == 800
    assert changed["data_version"] != first["data_version"]
    assert json.loads(_calibration(root).read_text())["key"] != old_key
    assert _calibration_matches_stored_reference(root)


@pytest.mark.slow
def test_a_changed_setting_or_code_version_rebuilds_it(
    root: DataPaths, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run_day(root, instance, DAYS[0])
    root.models_file.write_text(_models_yaml(threshold=0.7), encoding="utf-8")
    by_setting = _run_day(root, instance, DAYS[1])
    assert by_setting["rebuilt"] is True
    assert by_setting["data_version"] != first["data_version"]
    assert _calibration_matches_stored_reference(root)  # its key holds the threshold
    monkeypatch.setattr(reference_stage, "REFERENCE_CODE_VERSION", "next")
    assert _run_day(root, instance, DAYS[2])["rebuilt"] is True


@pytest.mark.slow
def test_a_deleted_output_is_rebuilt_and_a_deleted_fit_is_refitted(
    root: DataPaths, instance
) -> None:
    _run_day(root, instance, DAYS[0])
    _calibration(root).unlink()
    refit = _run_day(root, instance, DAYS[1])
    assert refit["rebuilt"] is False  # the reference itself was intact
    assert _calibration(root).exists()
    assert _calibration_matches_stored_reference(root)
    _stored(root).unlink()
    assert _run_day(root, instance, DAYS[2])["rebuilt"] is True
    assert _stored(root).exists()
