"""The estimated roc_auc and pr_auc read one level per calibrated score, as NannyML's CBPE ranks.

NannyML's binary CBPE sorts the calibrated probabilities, takes the expected true and false
positives at each distinct threshold as cumulative sums of p and 1 - p, and integrates the
expected ROC curve with the trapezoid rule. These tests compute exactly that in NumPy on
continuous scores through an isotonic-shaped curve (flat steps joined by ramps) and compare with
the SQL on the same rows; pr_auc must be the average precision of the rows in raw-score order,
which the SQL gets from the levels by a closed form per flat step; and ranking by the calibrated
levels must give the roc_auc the raw order gives.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.metrics.estimation_sql import DayCalibration
from perf_pipeline.metrics.performance import ALL, compute_performance

DAY = dt.date(2026, 5, 1)
MODEL = ModelConfig(
    model_id="levels", task="binary_classification", start_date=DAY, segments=["channel"]
)
# Flat steps joined by ramps, as `IsotonicRegression.X_thresholds_/y_thresholds_` look.
CURVE = (
    (0.0, 0.1, 0.12, 0.3, 0.31, 0.5, 0.55, 0.8, 0.82, 1.0),
    (0.02, 0.02, 0.15, 0.15, 0.4, 0.4, 0.7, 0.7, 0.93, 0.93),
)


def _nannyml_roc_auc(p_cal: np.ndarray) -> float:
    """NannyML's `estimate_roc_auc`: expected confusion counts at each distinct calibrated
    threshold, trapezoid area under the expected ROC curve. The curve is closed at (0, 0)
    exactly; NannyML closes it with a phantom row of score 1, whose weight moves its area by
    about one row's share (1e-4 here)."""
    from sklearn.metrics import auc

    thresholds = np.sort(p_cal)
    tp = np.cumsum(thresholds[::-1])[::-1]
    fp = np.cumsum((1 - thresholds)[::-1])[::-1]
    fn = np.cumsum(np.insert(thresholds, 0, 0)[:-1])
    tn = np.cumsum(np.insert(1 - thresholds, 0, 0)[:-1])
    distinct = np.diff(np.insert(thresholds, 0, -1)).astype(bool)
    tpr = tp[distinct] / (tp[distinct] + fn[distinct])
    fpr = fp[distinct] / (fp[distinct] + tn[distinct])
    return float(auc(np.append(fpr, 0.0), np.append(tpr, 0.0)))


def _average_precision(score: np.ndarray, p_cal: np.ndarray) -> float:
    """Expected average precision in raw-score order (distinct scores): each row's expected
    positive weight times the expected precision of the rows at or above it."""
    order = np.argsort(-score)
    weights = p_cal[order]
    precision = np.cumsum(weights) / np.arange(1, len(weights) + 1)
    return float((weights * precision).sum() / weights.sum())


def _day(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": DAY,
            "prediction_id": [str(i) for i in range(n)],
            "score": rng.beta(2, 2, n),
            "channel": rng.choice(["web", "app"], n),
            "label": None,
        }
    )


@pytest.fixture(scope="module")
def estimated() -> tuple[pd.DataFrame, pd.Series]:
    rows = _day(np.random.default_rng(17), 6000)
    con = duckdb.connect()
    con.register("scored", rows)
    result = compute_performance(
        con, MODEL, "scored", {None: DayCalibration(curves={"score": CURVE})}
    )
    values = result[result["is_estimated"]].set_index(["segment_value", "metric"])["value"]
    return rows, values


def test_estimated_aucs_on_calibrated_levels(estimated) -> None:
    """roc_auc is NannyML's formula over the calibrated scores; pr_auc is the raw order's
    average precision, which the levels' closed form per flat step keeps exactly."""
    rows, values = estimated
    for segment, part in [(ALL, rows), *rows.groupby("channel")]:
        p_cal = np.interp(part["score"].to_numpy(), *CURVE)
        assert values[(segment, "roc_auc")] == pytest.approx(_nannyml_roc_auc(p_cal), abs=1e-12)
        expected = _average_precision(part["score"].to_numpy(), p_cal)
        assert values[(segment, "pr_auc")] == pytest.approx(expected, abs=1e-12)


def test_calibrated_order_gives_the_raw_orders_roc_auc(estimated) -> None:
    """Within a flat step every pair's weights are symmetric, so the raw order inside it does
    not matter: sklearn's weighted roc_auc over the raw scores (each row once as a positive of
    weight p_cal, once as a negative of weight 1 - p_cal) is the same number."""
    from sklearn.metrics import roc_auc_score

    rows, values = estimated
    score = rows["score"].to_numpy()
    p_cal = np.interp(score, *CURVE)
    raw_order = roc_auc_score(
        np.r_[np.ones(len(score)), np.zeros(len(score))],
        np.r_[score, score],
        sample_weight=np.r_[p_cal, 1 - p_cal],
    )
    assert values[(ALL, "roc_auc")] == pytest.approx(raw_order, abs=1e-12)
