"""The Dagster-facing layout: a component per model, a defs folder that loads itself, safe names."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from perf_pipeline.assets.common import PRODUCES_ALERTS_TAG
from perf_pipeline.components import MonitoredModel
from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.names import dagster_name
from perf_pipeline.sample_data import MODELS_YAML
from perf_pipeline.sensors import ALERT_PRODUCERS

REPO = Path(__file__).resolve().parent.parent
DEFS_FOLDER = REPO / "perf_pipeline" / "defs"


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
    return root


def _defs_package(tmp_path: Path, monkeypatch, files: dict[str, str]) -> str:
    """A copy of the project's defs folder under a fresh package name, plus `files`."""
    package = f"layout_defs_{uuid.uuid4().hex[:8]}"
    target = tmp_path / "code" / package
    shutil.copytree(DEFS_FOLDER, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    return package


def test_the_component_schema_describes_every_field() -> None:
    fields = MonitoredModel.model_fields
    assert {"model_id", "models_file"} <= set(fields)
    assert all(field.description for field in fields.values())


def test_one_component_holds_one_model_and_nothing_else(data_root: Path) -> None:
    component = MonitoredModel(model_id="card_fraud", models_file=str(data_root / "models.yaml"))
    defs = dg.build_defs_for_component(component)
    keys = {key for a in defs.assets or [] for key in a.keys}
    assert keys and {k.path[0] for k in keys} == {"card_fraud"}
    assert [j.name for j in defs.jobs or []] == [daily_job_name("card_fraud")]
    assert {s.name for s in defs.sensors or []} == {
        "card_fraud__late_labels",
        "card_fraud__dependent_days",
        "card_fraud__freshness_checks",
        "card_fraud__freshness_alerts",
    }
    assert [s.name for s in defs.schedules or []] == ["card_fraud__daily_schedule"]


def test_an_unknown_model_id_names_the_file_and_the_declared_models(data_root: Path) -> None:
    component = MonitoredModel(model_id="nope", models_file=str(data_root / "models.yaml"))
    with pytest.raises(KeyError, match=r"models\.yaml.*nope.*card_fraud"):
        dg.build_defs_for_component(component)


def test_a_python_file_dropped_in_the_defs_folder_is_loaded(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    code = "import dagster as dg\n\n\n@dg.asset\ndef team_dashboard() -> None:\n    pass\n"
    package = _defs_package(tmp_path, monkeypatch, {"team/dashboard.py": code})
    (tmp_path / "code" / package / "team" / "__init__.py").write_text("")
    defs = build_definitions(data_root, defs_module=package)
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert dg.AssetKey("team_dashboard") in keys
    assert dg.AssetKey(["card_fraud", "performance"]) in keys


def test_a_defs_yaml_can_declare_a_model_from_another_models_file(
    data_root: Path, tmp_path: Path, monkeypatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "models.yaml").write_text(
        MODELS_YAML.replace("card_fraud:", "card-fraud-eu:", 1), encoding="utf-8"
    )
    declaration = (
        "type: perf_pipeline.components.MonitoredModel\n"
        "attributes:\n"
        "  model_id: card-fraud-eu\n"
        f"  models_file: {other / 'models.yaml'}\n"
    )
    package = _defs_package(tmp_path, monkeypatch, {"eu/defs.yaml": declaration})
    defs = build_definitions(data_root, defs_module=package)
    assert (
        dg.AssetKey(["card-fraud-eu", "performance"])
        in defs.resolve_asset_graph().get_all_asset_keys()
    )


def test_model_ids_with_dashes_keep_their_keys_and_get_safe_names(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        MODELS_YAML.replace("card_fraud:", "card-fraud:", 1), encoding="utf-8"
    )
    defs = build_definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    performance = graph.get(dg.AssetKey(["card-fraud", "performance"]))
    assert performance.group_name == dagster_name("card-fraud") != "card-fraud"
    job = defs.resolve_job_def(daily_job_name("card-fraud"))
    assert job.name.startswith("card_fraud_") and job.name.endswith("__daily")
    assert defs.resolve_sensor_def(f"{dagster_name('card-fraud')}__late_labels")
    defs.resolve_schedule_def(f"{job.name}_schedule")


def test_the_alerts_sensor_watches_the_tagged_assets(data_root: Path) -> None:
    graph = build_definitions(data_root).resolve_asset_graph()
    watched = ALERT_PRODUCERS.resolve(graph)
    assert watched == {
        dg.AssetKey([model, stage])
        for model in ("card_fraud", "store_demand")
        for stage in ("labels", "data_quality", "alerts")
    }
    assert all(graph.get(k).tags.get(PRODUCES_ALERTS_TAG) == "true" for k in watched)
