"""The code location `dagster dev` loads: valid, complete, and fast to import."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.quality.suite import build_suite
from perf_pipeline.sample_data import MODELS_YAML

REPO = Path(__file__).resolve().parent.parent
SHIPPED_DATA_ROOT = REPO / "data"


def _data_root(tmp_path: Path) -> Path:
    (tmp_path / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
    return tmp_path


def test_workspace_validates_with_the_dagster_cli(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PERF_PIPELINE_HOME": str(_data_root(tmp_path)),
        "DAGSTER_HOME": str(tmp_path),
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


HEAVY_AT_BUILD = ("great_expectations", "evidently", "scipy", "sklearn")
DATA_STACK = ("pandas", "pyarrow", "numpy")
HEAVY_AT_IMPORT = (*HEAVY_AT_BUILD, *DATA_STACK)


def _loaded_modules(
    tmp_path: Path, statement: str, watched: tuple[str, ...], data_root: Path | None = None
) -> list[str]:
    """The `watched` modules a fresh interpreter has loaded after running `statement`."""
    probe = (
        f"import sys, json; {statement}; "
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    )
    root = data_root if data_root is not None else _data_root(tmp_path)
    env = {**os.environ, "PERF_PIPELINE_HOME": str(root)}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_definitions_loads_no_heavy_library(tmp_path: Path) -> None:
    """`defs` is lazy: importing the module (what `import` and `-X importtime` measure) reads
    no models file and loads neither the data stack nor the quality and report stacks."""
    assert _loaded_modules(tmp_path, "import perf_pipeline.definitions", HEAVY_AT_IMPORT) == []


def test_building_the_definitions_loads_neither_quality_report_nor_scipy_stack(
    tmp_path: Path,
) -> None:
    statement = "import perf_pipeline.definitions as d; d.build_definitions()"
    assert _loaded_modules(tmp_path, statement, HEAVY_AT_BUILD) == []


def test_building_the_shipped_definitions_loads_no_data_stack(tmp_path: Path) -> None:
    """What `dagster dev` and `dg` pay per load of the shipped `data/` root: Dagster, DuckDB and
    the models file, and none of pandas, pyarrow or NumPy, which the steps that use them import
    (timings: `benchmarks/import_benchmark.py`)."""
    assert (SHIPPED_DATA_ROOT / "models.yaml").is_file()
    statement = "import perf_pipeline.definitions as d; d.build_definitions()"
    loaded = _loaded_modules(tmp_path, statement, HEAVY_AT_IMPORT, SHIPPED_DATA_ROOT)
    assert loaded == []


def test_graph_checks_schedules_and_sensors_per_model(tmp_path: Path) -> None:
    defs = build_definitions(_data_root(tmp_path))
    graph = defs.resolve_asset_graph()
    stages = [
        "reference",
        "predictions",
        "labels",
        "data_quality",
        "performance",
        "drift",
        "report",
        "review",
        "alerts",
    ]
    for model_id in ("card_fraud", "store_demand"):
        for stage in stages:
            assert dg.AssetKey([model_id, stage]) in graph.get_all_asset_keys()
        checks = {
            k.name
            for k in graph.asset_check_keys
            if k.asset_key == dg.AssetKey([model_id, "data_quality"])
        }
        assert {"files_readable", "logs_present", "prediction_id_unique"} <= checks
        schedule = defs.resolve_schedule_def(f"{daily_job_name(model_id)}_schedule")
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert (
            defs.resolve_sensor_def(f"{model_id}__late_labels").default_status
            == dg.DefaultSensorStatus.RUNNING
        )
    assert defs.resolve_sensor_def("alerts_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    job = defs.resolve_job_def(daily_job_name("card_fraud"))
    assert job.partitions_def is not None
    backfill = graph.get(dg.AssetKey(["card_fraud", "performance"])).backfill_policy
    assert backfill == dg.BackfillPolicy.single_run()


@pytest.mark.parametrize(
    "settings",
    [
        {"task": "binary_classification"},
        {"task": "multiclass_classification", "classes": ["cat", "dog", 7]},
        {"task": "regression"},
        {"task": "ranking", "k": [5]},
    ],
)
def test_the_suite_checks_every_score_column_the_ingest_reads(settings: dict) -> None:
    """The quality suite and the ingest both take the score columns from the model; every one
    the ingest requires must have its probability check, or a day's scores would go unchecked."""
    from perf_pipeline.config import ModelConfig
    from perf_pipeline.ingest.predictions import required_columns

    model = ModelConfig(model_id="m", start_date=dt.date(2026, 1, 1), **settings)
    probability_checks = {
        s.kwargs["column"] for s in build_suite(model, None) if s.name.endswith("_is_probability")
    }
    scores = [c for c in required_columns(model) if c == "score" or c.startswith("score_")]
    assert probability_checks == set(scores) == set(model.score_columns)
