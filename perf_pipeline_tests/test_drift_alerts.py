"""One setting decides dataset drift: the drift table's `__dataset__` row and the alert agree.

Before, the table called a day drifted at share >= `drift.share_threshold` while the alert fired
at share > `thresholds.drift_share.max`: a day at exactly the threshold was drifted without an
alert. The rows here come from the real drift computation over DuckDB relations.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.alerts.regressions import drift_alerts
from perf_pipeline.config import ModelConfig
from perf_pipeline.drift.sql import compute_drift_sql

DAY = dt.date(2026, 9, 1)
FEATURES = ["a", "b", "c", "d"]


def _model(**settings: object) -> ModelConfig:
    return ModelConfig(
        model_id="m",
        task="regression",
        start_date=DAY,
        features={"numerical": FEATURES},
        **settings,
    )


def _drift_rows(model: ModelConfig, shifted: int) -> pd.DataFrame:
    """The drift table of one day whose first `shifted` features moved by two standard
    deviations while the others (and the prediction) kept the reference's distribution."""
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({c: rng.normal(0, 1, 3000) for c in [*FEATURES, "prediction"]})
    current = pd.DataFrame({c: rng.normal(0, 1, 3000) for c in [*FEATURES, "prediction"]})
    for column in FEATURES[:shifted]:
        current[column] += 2.0
    reference["date"], current["date"] = DAY - dt.timedelta(days=30), DAY
    con = duckdb.connect()
    con.register("reference_rows", reference)
    con.register("current_rows", current)
    return compute_drift_sql(con, model, "reference_rows", "current_rows", "file")


@pytest.mark.parametrize(("shifted", "fires"), [(1, False), (2, False), (3, True), (4, True)])
def test_the_alert_fires_exactly_when_the_dataset_row_is_drifted(shifted: int, fires: bool) -> None:
    """Five columns (four features and the prediction): 3/5 = 60 % reaches 0.6, 2/5 does not."""
    model = _model(thresholds={"drift_share": {"max": 0.6}})
    assert model.drift.share_threshold == 0.6
    rows = _drift_rows(model, shifted)
    dataset = rows[rows["column"] == "__dataset__"].iloc[0]
    assert dataset["statistic"] == pytest.approx(shifted / 5)
    assert bool(dataset["drifted"]) is fires

    alerts = drift_alerts(model, DAY, rows)
    assert bool(alerts) is fires
    if fires:
        assert alerts[0].value == pytest.approx(shifted / 5) and alerts[0].threshold == 0.6
        assert ", ".join(FEATURES[:shifted]) in alerts[0].message


def test_a_day_without_a_dataset_verdict_raises_nothing() -> None:
    model = _model()
    rows = _drift_rows(model, 4)
    rows.loc[rows["column"] == "__dataset__", "drifted"] = None
    assert drift_alerts(model, DAY, rows) == []
