"""The release gate through the real pipeline: the sample's shadow candidate, the CLI's exit
codes, the gate asset's check and the `gate_decisions` table, the offline hold-out mode."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.assets.gate import GATE_CHECK
from perf_pipeline.cli import main
from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import read_table_sql
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import SHADOW_DAYS, SHADOW_VERSION, day, write_sample

pytestmark = pytest.mark.slow  # one backfill of the shadow week (about two minutes)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("gate") / "data"
    paths = write_sample(root)
    home = tmp_path_factory.mktemp("dagster_home")
    defs = build_definitions(root)
    model = load_models(paths.models_file)["card_fraud"]
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        first, last = day(SHADOW_DAYS[0]), day(SHADOW_DAYS[-1])
        (outcome,) = backfill(defs, instance, [model], first, last, log_level="WARNING")
        assert outcome.success
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        yield paths


def _gate(lake, capsys, *extra: str) -> tuple[int, dict]:
    code = main(
        ["--home", str(lake.root), "gate", "--model", "card_fraud", "--format", "json", *extra]
    )
    return code, json.loads(capsys.readouterr().out)


def test_shadow_candidate_fails_for_its_worse_segment(lake, capsys) -> None:
    code, decision = _gate(
        lake, capsys, "--candidate", SHADOW_VERSION, "--end", day(SHADOW_DAYS[-2]).isoformat()
    )
    assert code == 1
    assert decision["verdict"] == "fail" and decision["mode"] == "paired"
    assert decision["baseline"] == "v3"  # the version that served the most rows
    assert decision["reasons"] == [r for r in decision["reasons"] if "channel=pos" in r]
    assert len(decision["reasons"]) == 1 and decision["reasons"][0].startswith("[segment]")
    overall = next(
        d
        for d in decision["differences"]
        if d["metric"] == "roc_auc" and d["segment_value"] == "__all__"
    )
    assert overall["difference"] > 0 and overall["ci_low"] > -0.005  # better overall


def test_a_day_with_too_few_labels_is_not_enough_data(lake, capsys) -> None:
    last = day(SHADOW_DAYS[-1]).isoformat()  # the sample's last day: no label has arrived
    code, decision = _gate(
        lake, capsys, "--candidate", SHADOW_VERSION, "--start", last, "--end", last
    )
    assert code == 2 and decision["verdict"] == "not_enough_data"
    assert "[min_labelled_rows]" in decision["reasons"][0]


def test_every_decision_is_recorded_and_a_failed_gate_fails_its_check(lake, capsys) -> None:
    _gate(lake, capsys, "--candidate", SHADOW_VERSION, "--end", day(SHADOW_DAYS[-2]).isoformat())
    rows = (
        duckdb.connect()
        .execute(
            "SELECT verdict, candidate, baseline, exit_code, differences "
            f"FROM {read_table_sql(lake, 'gate_decisions', 'card_fraud')}"
        )
        .df()
    )
    fail = rows[rows["verdict"] == "fail"]
    assert fail[["candidate", "baseline", "exit_code"]].values.tolist() == [["v4", "v3", 1]]
    pos = [d for d in json.loads(fail["differences"].iloc[0]) if d["segment_value"] == "pos"]
    assert pos and pos[0]["ci_high"] < 0  # the evidence: the segment's interval, all worse
    # The same gate on the same data is one decision, re-recorded, never a duplicate row.
    assert (rows["verdict"] == "fail").sum() == 1
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetKey(["card_fraud", "gate"])
        check = dg.AssetCheckKey(key, GATE_CHECK)
        evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key([check])[
            check
        ]
        assert evaluation.evaluation.passed is False


def _holdout(path: Path, better_everywhere: bool) -> Path:
    """A labelled hold-out file with production's (v3) and a candidate's (v5) scores."""
    rng = np.random.default_rng(11)
    n = 4000
    channel = rng.choice(["web", "app", "pos"], n)
    y = rng.random(n) < 0.1
    signal = y * 1.5 + rng.normal(0, 1, n)
    noise = 0.4 if better_everywhere else 1.0
    frames = []
    for version, scores in (
        ("v3", signal + rng.normal(0, 1.0, n)),
        ("v5", signal + rng.normal(0, noise, n)),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "prediction_id": [f"h-{i}" for i in range(n)],
                    "model_version": version,
                    "channel": channel,
                    "age_band": rng.choice(["18-25", "26-40"], n),
                    "score": 1 / (1 + np.exp(-scores)),
                    "label": y.astype(int),
                }
            )
        )
    pd.concat(frames).to_parquet(path)
    return path


def test_offline_holdout_passes_a_candidate_better_everywhere(lake, capsys, tmp_path) -> None:
    file = _holdout(tmp_path / "holdout.parquet", better_everywhere=True)
    code, decision = _gate(lake, capsys, "--candidate", "v5", "--holdout", str(file))
    assert code == 0, decision["reasons"]
    assert decision["source"] == "holdout holdout.parquet" and decision["mode"] == "paired"


def test_holdout_missing_a_column_names_the_file_and_column(lake, capsys, tmp_path) -> None:
    file = tmp_path / "bad.parquet"
    pd.DataFrame({"prediction_id": ["a"], "score": [0.2]}).to_parquet(file)
    code = main(
        [
            "--home",
            str(lake.root),
            "gate",
            "--model",
            "card_fraud",
            "--candidate",
            "v5",
            "--holdout",
            str(file),
        ]
    )
    assert code == 2
    assert f"{file}: missing column(s) label" in capsys.readouterr().err
