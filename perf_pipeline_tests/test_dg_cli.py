"""Dagster's own `dg` CLI knows the project: it loads the code location and, on a broken models
file, fails with the message that names the key.

These run the real `dg` command in a subprocess from the repository root, as a data engineer
would, on a temporary data root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perf_pipeline.names import dagster_name

ROOT = Path(__file__).parents[1]
DG = shutil.which("dg", path=str(Path(sys.executable).parent)) or shutil.which("dg")

pytestmark = pytest.mark.skipif(DG is None, reason="the dg CLI (dagster-dg-cli) is not installed")

MODELS = """\
models:
  card-fraud:
    task: binary_classification
    features: {numerical: [x-1, "a b"], categorical: [channel]}
    start_date: 2026-09-01
    thresholds: {roc_auc: {min: 0.7}}
"""


def _dg(data_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PERF_PIPELINE_HOME": str(data_root), "NO_COLOR": "1"}
    return subprocess.run(
        [str(DG), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_dg_check_and_list_defs_load_the_project(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(MODELS, encoding="utf-8")
    checked = _dg(tmp_path, "check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = _dg(tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "card-fraud/performance" in listed.stdout
    # Dagster allows only [A-Za-z0-9_] in job names: the dashed id gets its safe form.
    assert f'"{dagster_name("card-fraud")}__daily"' in listed.stdout


def test_dg_check_defs_fails_naming_the_key_of_a_broken_models_file(tmp_path: Path) -> None:
    broken = MODELS.replace("roc_auc: {min: 0.7}", "roc_aucc: {min: 0.7}")
    (tmp_path / "models.yaml").write_text(broken, encoding="utf-8")
    checked = _dg(tmp_path, "check", "defs")
    assert checked.returncode != 0
    output = checked.stdout + checked.stderr
    assert "models.card-fraud.thresholds.roc_aucc: unknown metric" in output
    assert "did you mean 'roc_auc'" in output
