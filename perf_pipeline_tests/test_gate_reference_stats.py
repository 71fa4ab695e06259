"""The gate's reference statistics, read in one scan, equal pandas' on the same rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from perf_pipeline.config import load_models
from perf_pipeline.lake import connect
from perf_pipeline.quality.gate import reference_stats
from perf_pipeline.tables.reference import materialize_reference
from perf_pipeline_tests.landing_zone import binary_frame, write_binary_root

MODELS_YAML = """
models:
  fraud:
    task: binary_classification
    features:
      numerical: [amount, age]
      categorical: [channel]
    start_date: 2026-01-01
"""


def test_reference_stats_match_pandas(tmp_path) -> None:
    paths = write_binary_root(tmp_path / "root", MODELS_YAML, "fraud", [dt.date(2026, 1, 1)])
    rng = np.random.default_rng(5)
    frame = binary_frame(rng, 500, dt.date(2025, 12, 1))
    frame.loc[rng.random(500) < 0.2, "amount"] = np.nan
    frame["age"] = np.nan  # a column with no value at all: no range
    frame["channel"] = rng.choice(["web", "pos", None], 500)
    reference = paths.landing_reference("fraud")
    (reference / "ref.parquet").unlink()
    frame.to_parquet(reference / "ref.parquet", index=False)
    model = load_models(paths.models_file)["fraud"]
    con = connect()
    materialize_reference(con, paths, model)

    stats = reference_stats(con, paths, model)

    assert stats is not None and stats.rows == 500
    for column in ("amount", "age", "channel"):
        assert stats.null_rate[column] == pytest.approx(frame[column].isna().mean())
    assert stats.minimum == {"amount": pytest.approx(frame["amount"].min())}
    assert stats.maximum == {"amount": pytest.approx(frame["amount"].max())}
    assert stats.categories == {"channel": sorted(pd.unique(frame["channel"].dropna()))}
