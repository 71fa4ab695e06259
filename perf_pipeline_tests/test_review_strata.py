"""The least-confident ranking in SQL against NumPy: binary distance to the threshold, and the
multiclass margin between the two highest class scores."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.review.strata import confidence_sql


def _confidence(model: ModelConfig, frame: pd.DataFrame) -> np.ndarray:
    con = duckdb.connect()
    con.register("scored", frame)
    return con.execute(f"SELECT {confidence_sql(model)} AS c FROM scored").df()["c"].to_numpy()


def test_multiclass_confidence_is_the_top_two_margin() -> None:
    model = ModelConfig(
        model_id="m",
        task="multiclass_classification",
        classes=["a", "b", "c", "d"],
        start_date="2026-01-01",
    )
    rng = np.random.default_rng(4)
    scores = rng.dirichlet(np.ones(4), 500)
    found = _confidence(model, pd.DataFrame(scores, columns=model.score_columns))
    top_two = np.sort(scores, axis=1)[:, -2:]
    assert np.allclose(found, top_two[:, 1] - top_two[:, 0])


def test_binary_confidence_is_the_distance_to_the_threshold() -> None:
    model = ModelConfig(
        model_id="m", task="binary_classification", decision_threshold=0.3, start_date="2026-01-01"
    )
    frame = pd.DataFrame({"score": np.linspace(0, 1, 101)})
    found = _confidence(model, frame)
    assert np.allclose(found, np.abs(frame["score"] - 0.3))


def test_regression_and_ranking_have_no_confidence() -> None:
    for task, extra in (("regression", {}), ("ranking", {"k": 5})):
        model = ModelConfig(model_id="m", task=task, start_date="2026-01-01", **extra)
        assert confidence_sql(model) is None
