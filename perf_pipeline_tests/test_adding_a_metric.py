"""The README's promise: a metric is one `Metric` entry, and everything else follows."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics import registry
from perf_pipeline.metrics.performance import compute_performance, metric_direction
from perf_pipeline.metrics.registry import Metric

FALSE_POSITIVE_RATE = Metric(
    "false_positive_rate",
    Task.BINARY_CLASSIFICATION,
    sql="count_if(yhat AND NOT y) / NULLIF(count_if(NOT y), 0)",
    higher_is_better=False,
    kind="proportion",
    n_sql="count_if(NOT y)",
)


def test_the_readme_example_metric_is_computed_per_segment_with_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binary = Task.BINARY_CLASSIFICATION
    monkeypatch.setitem(registry.METRICS, binary, (*registry.METRICS[binary], FALSE_POSITIVE_RATE))
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "date": dt.date(2026, 1, 1),
            "prediction_id": [str(i) for i in range(n)],
            "score": rng.random(n),
            "channel": rng.choice(["web", "app"], n),
        }
    )
    frame["prediction"] = (frame["score"] >= 0.5).astype(int).astype(str)
    frame["label"] = (rng.random(n) < frame["score"]).astype(int).astype(str)
    con = duckdb.connect()
    con.register("scored", frame)
    model = ModelConfig(
        model_id="m",
        task="binary_classification",
        start_date=dt.date(2026, 1, 1),
        segments=["channel"],
    )
    out = compute_performance(con, model, "scored")
    rows = out[(out["metric"] == "false_positive_rate") & ~out["is_estimated"]]
    assert set(rows["segment_value"]) == {"__all__", "web", "app"}
    for row in rows.itertuples():
        part = (
            frame
            if row.segment_value == "__all__"
            else frame[frame["channel"] == row.segment_value]
        )
        tn, fp, _, _ = confusion_matrix(
            part["label"].astype(int), (part["score"] >= 0.5).astype(int)
        ).ravel()
        assert row.value == pytest.approx(fp / (fp + tn), rel=1e-12)
        low, high = proportion_confint(fp, fp + tn, method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert metric_direction(binary, "false_positive_rate") is False
