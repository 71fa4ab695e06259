"""The stored reference does not depend on how its rows were written: typed Parquet, CSV text,
JSON Lines, split over several files, a column typed in one file and text in another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perf_pipeline.config import load_models
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables.reference import materialize_reference

MODELS_YAML = """
models:
  m:
    task: binary_classification
    features:
      numerical: [amount, visits]
      categorical: [channel]
    start_date: 2026-02-01
"""
ROWS = 900


def _rows() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    score = rng.random(ROWS)
    amount = rng.normal(100, 10, ROWS)
    amount[::7] = 0.1 + 0.2  # a float whose shortest text has 17 digits
    amount[5] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "visits": rng.integers(-5, 2**40, ROWS),  # integers: typed int64 in Parquet
            "channel": rng.choice(["web", " app ", ""], ROWS),
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "label": (rng.random(ROWS) < score).astype(float),  # `1.0`: the class `1`
        }
    )


def _root(tmp: Path, name: str, write) -> DataPaths:
    paths = DataPaths(tmp / name)
    paths.root.mkdir()
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    folder = paths.landing_reference("m")
    folder.mkdir(parents=True)
    write(folder, _rows())
    return paths


def _stored(paths: DataPaths) -> pd.DataFrame:
    model = load_models(paths.models_file)["m"]
    con = connect()
    load = materialize_reference(con, paths, model)
    assert load.rows_read == ROWS
    return con.execute(f"SELECT * FROM {read_table_sql(paths, 'reference', 'm')}").df()


def _as_one_csv(folder: Path, rows: pd.DataFrame) -> None:
    rows.to_csv(folder / "all.csv", index=False, float_format="%.17g")


def _typed_parquet(folder: Path, rows: pd.DataFrame) -> None:
    rows.to_parquet(folder / "all.parquet", index=False)


def _split_mixed(folder: Path, rows: pd.DataFrame) -> None:
    rows.iloc[:300].to_parquet(folder / "a.parquet", index=False)
    text = rows.iloc[300:600].astype({"amount": str, "visits": str})
    text.iloc[0, 0] = f"  {text.iloc[0, 0]} "  # text as people write it: padded
    text.to_parquet(folder / "b.parquet", index=False)  # the numbers as text in this file
    rows.iloc[600:].to_json(folder / "c.jsonl", orient="records", lines=True, double_precision=15)


@pytest.mark.parametrize("write", [_typed_parquet, _split_mixed], ids=["typed", "mixed"])
def test_same_rows_same_reference_whatever_the_files(tmp_path: Path, write) -> None:
    expected = _stored(_root(tmp_path, "text", _as_one_csv))
    stored = _stored(_root(tmp_path, "files", write))
    assert list(stored.columns) == list(expected.columns)
    assert list(stored.dtypes) == list(expected.dtypes)
    if write is _split_mixed:  # JSON writes 15 significant digits: compare to those
        pd.testing.assert_frame_equal(stored, expected, check_exact=False, rtol=1e-14)
    else:
        pd.testing.assert_frame_equal(stored, expected, check_exact=True)
    assert stored["label"].isin(["0", "1"]).all()
    assert stored["channel"].isna().sum() == (_rows()["channel"] == "").sum()


def test_a_column_missing_from_one_file_is_null_for_its_rows(tmp_path: Path) -> None:
    def write(folder: Path, rows: pd.DataFrame) -> None:
        rows.iloc[:400].to_parquet(folder / "a.parquet", index=False)
        rows.iloc[400:].drop(columns="score").to_parquet(folder / "b.parquet", index=False)

    stored = _stored(_root(tmp_path, "gap", write))
    assert stored["score"].iloc[:400].notna().all() and stored["score"].iloc[400:].isna().all()
