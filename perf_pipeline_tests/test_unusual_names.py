"""Column names with dashes, spaces, dots, quotes and non-ASCII letters, through real Dagster,
DuckDB and Great Expectations: the definitions load, the checks run and pass, the rows land with
the readable names (one unusual feature used to stop every model from loading)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.names import dagster_name, is_dagster_safe
from perf_pipeline.paths import DataPaths

DAY = dt.date(2026, 4, 1)
MODEL = "odd-names"
NUMERICAL = ["x-1", "a b", "é.t"]
CATEGORICAL = ['"q"']
FEATURES = [*NUMERICAL, *CATEGORICAL]


def _models_yaml() -> str:
    features = {"numerical": NUMERICAL, "categorical": CATEGORICAL}
    return (
        "models:\n"
        f"  {MODEL}:\n"
        "    task: binary_classification\n"
        f"    features: {json.dumps(features, ensure_ascii=False)}\n"
        f"    segments: {json.dumps(CATEGORICAL)}\n"
        f"    start_date: {DAY.isoformat()}\n"
        f"    drift: {{thresholds: {{{json.dumps('a b')}: 0.2}}}}\n"
        "    quality:\n"
        f"      severity: {{{json.dumps('x-1_in_reference_range')}: error}}\n"
        "      expectations:\n"
        '        - {expectation: ExpectColumnValuesToBeBetween, column: "é.t", min_value: -10,'
        " max_value: 10}\n"
    )


def _frame(rng: np.random.Generator, n: int, day: dt.date) -> pd.DataFrame:
    score = rng.random(n)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i}" for i in range(n)],
            "timestamp": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
            "model_version": "v1",
            "x-1": rng.normal(0, 1, n),
            "a b": rng.uniform(0, 5, n),
            "é.t": rng.normal(0, 1, n),
            '"q"': rng.choice(["ä", "b c"], n),
            "prediction": (score >= 0.5).astype(int),
            "score": score,
        }
    )


def _data_root(root: Path) -> DataPaths:
    paths = DataPaths(root)
    root.mkdir(parents=True)
    paths.models_file.write_text(_models_yaml(), encoding="utf-8")
    rng = np.random.default_rng(3)
    reference = paths.landing_reference(MODEL)
    reference.mkdir(parents=True)
    ref = _frame(rng, 300, DAY - dt.timedelta(days=30))
    ref["x-1"] = rng.normal(0, 5, 300)  # wide reference range: today's values sit inside it
    ref.assign(label=(ref["score"] > 0.5).astype(int)).to_parquet(
        reference / "ref.parquet", index=False
    )
    folder = paths.landing_day("predictions", MODEL, DAY)
    folder.mkdir(parents=True)
    _frame(rng, 200, DAY).to_parquet(folder / "part-0.parquet", index=False)
    return paths


def test_unusual_column_names_run_through_the_gate(tmp_path: Path) -> None:
    paths = _data_root(tmp_path / "data")
    defs = build_definitions(paths.root)
    graph = defs.resolve_asset_graph()
    gate = dg.AssetKey([MODEL, "data_quality"])
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == gate}
    assert all(is_dagster_safe(name) for name in checks)
    expected = [f"{c}_null_rate" for c in FEATURES] + ["x-1_in_reference_range"]
    assert {dagster_name(name) for name in expected} <= checks

    selection = [dg.AssetKey([MODEL, stage]) for stage in ("reference", "predictions")] + [gate]
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            assets,
            selection=selection,
            partition_key=DAY.isoformat(),
            instance=instance,
            resources=defs.resources,
        )
        assert result.success
        evaluations = {
            e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == gate
        }
    assert {dagster_name(name) for name in expected} <= set(evaluations)
    assert all(e.passed for e in evaluations.values()), [
        n for n, e in evaluations.items() if not e.passed
    ]

    con = connect()
    rows = con.execute(
        f'SELECT expectation, "column", success FROM {read_table_sql(paths, "data_quality")}'
    ).fetchall()
    by_name = {name: (column, success) for name, column, success in rows}
    for feature in FEATURES:
        assert by_name[f"{feature}_null_rate"] == (feature, True)
    assert by_name["x-1_in_reference_range"] == ("x-1", True)
    assert by_name["é.t_column_values_to_be_between"] == ("é.t", True)
    stored = con.execute(
        f'SELECT count(*), count(DISTINCT "a b"), count("é.t") '
        f"FROM {read_table_sql(paths, 'predictions')}"
    ).fetchone()
    assert stored == (200, 200, 200)
