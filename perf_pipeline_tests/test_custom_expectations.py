"""Custom Great Expectations expectations from the models file, through real Dagster and GX.

A model adds two expectations under `quality.expectations`: an error one (amounts are never
negative) and a warning one (merchant_risk present on 99 % of rows). A day that breaks the error
one is blocked like a day that breaks a generated error expectation; a day that breaks the warning
one is recorded and goes on. `perf-pipeline validate` checks the class and its arguments with GX.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import textwrap
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.validate import validate_command

START = dt.date(2026, 5, 1)
CLEAN, NEGATIVE_AMOUNTS, SOME_RISK_MISSING = (START + dt.timedelta(days=i) for i in range(3))
MODEL = "cards"

README = Path(__file__).parents[1] / "README.md"


def _readme_expectations() -> list[dict]:
    """The expectations of the README's "Your own expectations" recipe, exactly as written
    there, so the documented YAML is what these tests run."""
    text = README.read_text(encoding="utf-8")
    start = text.index("**Your own expectations.**")
    block = re.search(r"```yaml\n(.*?)```", text[start:], flags=re.DOTALL)
    assert block, "the README's expectations recipe has no YAML block"
    return yaml.safe_load(textwrap.dedent(block.group(1)))["quality"]["expectations"]


# JSON is YAML's flow style: each entry goes under the test model exactly as the README has it.
EXPECTATIONS = "      expectations:\n" + "".join(
    f"        - {json.dumps(entry)}\n" for entry in _readme_expectations()
)


def _models_yaml(expectations: str = EXPECTATIONS) -> str:
    return f"""\
models:
  {MODEL}:
    task: binary_classification
    features:
      numerical: [amount, merchant_risk]
    start_date: {START.isoformat()}
    quality:
{expectations}"""


def _frame(rng: np.random.Generator, n: int, day: dt.date) -> pd.DataFrame:
    score = rng.random(n)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i}" for i in range(n)],
            "timestamp": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
            "model_version": "v1",
            "amount": rng.uniform(1, 100, n),
            "merchant_risk": rng.random(n),
            "prediction": (score >= 0.5).astype(int),
            "score": score,
        }
    )


def _data_root(root: Path) -> DataPaths:
    paths = DataPaths(root)
    root.mkdir(parents=True)
    paths.models_file.write_text(_models_yaml(), encoding="utf-8")
    rng = np.random.default_rng(5)
    reference = paths.landing_reference(MODEL)
    reference.mkdir(parents=True)
    ref = _frame(rng, 300, START - dt.timedelta(days=20))
    ref.assign(label=(ref["score"] > 0.5).astype(int)).to_parquet(reference / "r.parquet")
    for day in (CLEAN, NEGATIVE_AMOUNTS, SOME_RISK_MISSING):
        frame = _frame(rng, 200, day)
        if day == NEGATIVE_AMOUNTS:
            frame.loc[:9, "amount"] = -5.0
        if day == SOME_RISK_MISSING:
            frame.loc[:5, "merchant_risk"] = np.nan  # 3 %: above the 1 % tolerated, below 5 %
        folder = paths.landing_day("predictions", MODEL, day)
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part-0.parquet", index=False)
    return paths


def _quality_row(paths: DataPaths, day: dt.date, expectation: str) -> dict:
    frame = connect().execute(f"SELECT * FROM {read_table_sql(paths, 'data_quality')}").df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    match = frame[(frame["date"] == day) & (frame["expectation"] == expectation)]
    assert len(match) == 1, (day, expectation)
    return match.iloc[0].to_dict()


def _run_day(defs: dg.Definitions, instance: dg.DagsterInstance, day: dt.date):
    job = defs.resolve_job_def(daily_job_name(MODEL))
    return job.execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False
    )


def _started(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


@pytest.mark.slow
def test_custom_expectations_block_or_record_like_generated_ones(tmp_path: Path) -> None:
    paths = _data_root(tmp_path / "data")
    defs = build_definitions(paths.root)
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"amount_column_values_to_be_between", "merchant_risk_present"} <= checks
    with dg.instance_for_test() as instance:
        assert _run_day(defs, instance, CLEAN).success
        blocked = _run_day(defs, instance, NEGATIVE_AMOUNTS)
        assert not blocked.success
        assert not any(s.endswith(("__performance", "__drift")) for s in _started(blocked))
        warned = _run_day(defs, instance, SOME_RISK_MISSING)
        assert warned.success

    passed = _quality_row(paths, CLEAN, "amount_column_values_to_be_between")
    assert passed["success"] and passed["severity"] == "error" and passed["column"] == "amount"
    failed = _quality_row(paths, NEGATIVE_AMOUNTS, "amount_column_values_to_be_between")
    assert not failed["success"] and failed["severity"] == "error"
    assert failed["unexpected_count"] == 10 and "-5.0" in failed["sample_values"]
    risk = _quality_row(paths, SOME_RISK_MISSING, "merchant_risk_present")
    assert not risk["success"] and risk["severity"] == "warning" and risk["unexpected_count"] == 6
    assert _quality_row(paths, SOME_RISK_MISSING, "merchant_risk_null_rate")["success"]
    alerts = (
        connect()
        .execute(
            "SELECT CAST(date AS VARCHAR), metric_or_column "
            f"FROM {read_table_sql(paths, 'alerts')} WHERE kind = 'data_quality'"
        )
        .fetchall()
    )
    assert alerts == [(NEGATIVE_AMOUNTS.isoformat(), "amount_column_values_to_be_between")]


def test_the_models_file_can_turn_a_custom_expectation_off(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    relaxed = EXPECTATIONS + "      severity: {merchant_risk_present: 'off'}\n"
    paths.models_file.write_text(_models_yaml(relaxed), encoding="utf-8")
    checks = {k.name for k in build_definitions(paths.root).resolve_asset_graph().asset_check_keys}
    assert "merchant_risk_present" not in checks
    assert "amount_column_values_to_be_between" in checks


def _validate(tmp_path: Path, expectations: str) -> tuple[int, str]:
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(_models_yaml(expectations), encoding="utf-8")
    out = io.StringIO()
    return validate_command(paths, out), out.getvalue()


def test_validate_accepts_real_expectations(tmp_path: Path) -> None:
    code, text = _validate(tmp_path, EXPECTATIONS)
    assert (code, text) == (0, f"OK: 1 models ({MODEL})\n")


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        (
            "{expectation: ExpectColumnValuesToBeBetwen, column: amount, min_value: 0}",
            "expectation",
            "Great Expectations has no expectation 'ExpectColumnValuesToBeBetwen'",
        ),
        (
            "{expectation: ExpectColumnValuesToBeBetween, column: amount, min_valu: 0}",
            "min_valu",
            "unknown argument",
        ),
        (
            "{expectation: ExpectColumnValuesToNotBeNull, column: amount, mostly: 2}",
            "mostly",
            "less than or equal to 1",
        ),
    ],
    ids=["unknown_class", "unknown_argument", "bad_argument"],
)
def test_validate_checks_the_class_and_its_arguments(
    tmp_path: Path, entry: str, key: str, problem: str
) -> None:
    code, text = _validate(tmp_path, f"      expectations:\n        - {entry}\n")
    assert code == 2
    prefix = f"{tmp_path / 'models.yaml'}: model '{MODEL}': "
    line = next(line for line in text.splitlines() if f"expectations[0].{key}:" in line)
    assert line.startswith(prefix + f"models.{MODEL}.quality.expectations[0].{key}: ")
    assert problem in line
