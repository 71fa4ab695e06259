"""One setting decides dataset drift: the drift table's `__dataset__` row and the alert agree.

Before, the table called a day drifted at share >= `drift.share_threshold` while the alert fired
at share > `thresholds.drift_share.max`: a day at exactly the threshold was drifted without an
alert. Both now read the dataset row the drift table wrote.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from perf_pipeline.alerts.regressions import drift_alerts
from perf_pipeline.config import ModelConfig

DAY = dt.date(2026, 9, 1)


def _model(**settings: object) -> ModelConfig:
    return ModelConfig(
        model_id="m",
        task="binary_classification",
        start_date=DAY,
        features={"numerical": ["a", "b", "c", "d"]},
        **settings,
    )


def _drift(drifted_columns: int, threshold: float) -> pd.DataFrame:
    """A day's drift rows: 4 columns, the first `drifted_columns` drifted, and the dataset row
    computed the way the drift table does."""
    share = drifted_columns / 4
    rows = [
        {"column": c, "drifted": i < drifted_columns, "statistic": 0.0, "threshold": 0.1}
        for i, c in enumerate("abcd")
    ]
    rows.append(
        {
            "column": "__dataset__",
            "drifted": share >= threshold,
            "statistic": share,
            "threshold": threshold,
        }
    )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("drifted_columns", "fires"), [(1, False), (2, True), (3, True)])
def test_the_alert_fires_exactly_when_the_dataset_row_is_drifted(
    drifted_columns: int, fires: bool
) -> None:
    model = _model(thresholds={"drift_share": {"max": 0.5}})
    assert model.drift.share_threshold == 0.5
    alerts = drift_alerts(model, DAY, _drift(drifted_columns, model.drift.share_threshold))
    assert bool(alerts) is fires
    if fires:
        assert alerts[0].value == drifted_columns / 4 and alerts[0].threshold == 0.5
        assert "a, b" in alerts[0].message


def test_a_day_without_a_dataset_verdict_raises_nothing() -> None:
    frame = _drift(4, 0.5)
    frame.loc[frame["column"] == "__dataset__", "drifted"] = None
    assert drift_alerts(_model(), DAY, frame) == []
