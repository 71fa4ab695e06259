"""The estimated roc_auc and pr_auc, computed over score levels, against a direct computation.

The SQL merges rows of one calibrated score into one level per (date, segment, score) before it
sorts; these tests compute the same estimates pair by pair in NumPy (every positive weight
against every negative weight, ties counted half), on days with many tied scores, several
segments, a NULL segment, unscored rows and a partly labelled day, so a level that merged the
wrong rows, a window that split a tie or a group that lost its rows would show. roc_auc is
computed in the raw scores' order: ranking by the calibrated score must not change it. pr_auc is
computed row by row in raw order, a flat step's raw ties split (the SQL's closed form per step),
and stays close to the raw order with every tie kept.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.metrics.estimation_sql import DayCalibration
from perf_pipeline.metrics.performance import ALL, NULL_SEGMENT, compute_performance

DAY = dt.date(2026, 4, 1)
MODEL = ModelConfig(
    model_id="auc", task="binary_classification", start_date=DAY, segments=["channel"]
)
# A monotone curve with a flat stretch, so distinct scores also share a calibrated value.
CURVE = ((0.0, 0.2, 0.4, 0.6, 1.0), (0.05, 0.1, 0.1, 0.7, 0.95))


def _day(rng: np.random.Generator, day: dt.date, n: int, labelled_share: float) -> pd.DataFrame:
    """`n` rows whose scores take at most 101 values (many ties), a few unscored, four channels
    (one of them NULL)."""
    score = np.round(rng.beta(2, 3, n), 2)
    score = np.where(rng.random(n) < 0.03, np.nan, score)
    channel = rng.choice(np.array(["web", "app", "store", None], dtype=object), n)
    label = np.where(rng.random(n) < labelled_share, np.where(rng.random(n) < 0.4, "1", "0"), None)
    return pd.DataFrame(
        {
            "date": day,
            "prediction_id": [f"{day}-{i}" for i in range(n)],
            "score": score,
            "channel": channel,
            "label": label,
        }
    )


def _direct(score: np.ndarray, p_cal: np.ndarray) -> tuple[float, float]:
    """Weighted AUC in raw-score order from every pair of rows, and average precision row by
    row (NaN scores left out)."""
    kept = ~np.isnan(score)
    s, pos = score[kept], p_cal[kept]
    neg = 1 - pos
    above = s[:, None] > s[None, :]
    tied = s[:, None] == s[None, :]
    # Positive weight of row i meets the negative weight of row j scored below it (half if tied).
    auc = (pos[:, None] * neg[None, :] * (above + 0.5 * tied)).sum() / (pos.sum() * neg.sum())
    return float(auc), _average_precision(s, pos)


def _average_precision(s: np.ndarray, pos: np.ndarray) -> float:
    """Row i, a positive of weight pos[i], sees the expected precision of the rows ranked at or
    above it, in raw order: a calibrated level whose rows share one raw score is one tie (all
    its rows at or above each of them); the rows of a flat step, which hold several raw scores,
    are ranked one by one (the k-th sees the step's first k rows)."""
    order = np.lexsort((-s, -pos))
    s, pos = s[order], pos[order]
    starts = np.r_[True, pos[1:] != pos[:-1]]
    level = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    size = np.diff(np.r_[first, len(pos)])
    one_score = np.array([s[a] == s[a + n - 1] for a, n in zip(first, size, strict=True)])
    rows_above = first[level]
    pos_above = np.r_[0.0, np.cumsum(pos)][rows_above]
    k = np.arange(len(pos)) - rows_above + 1
    k = np.where(one_score[level], size[level], k)
    precision = (pos_above + pos * k) / (rows_above + k)
    return float((pos * precision).sum() / pos.sum())


def _tied_precision(score: np.ndarray, p_cal: np.ndarray) -> float:
    """sklearn's tie handling in raw order: each row sees every row of its raw score."""
    kept = ~np.isnan(score)
    s, pos = score[kept], p_cal[kept]
    at_or_above = s[None, :] >= s[:, None]
    precision = (at_or_above * pos[None, :]).sum(axis=1) / at_or_above.sum(axis=1)
    return float((pos * precision).sum() / pos.sum())


def _expected(frame: pd.DataFrame) -> dict[tuple, tuple[float, float, float]]:
    """Per group: roc_auc, pr_auc, and pr_auc with every raw tie kept."""
    frame = frame.assign(
        p_cal=np.where(frame["score"].isna(), np.nan, np.interp(frame["score"], *CURVE)),
        segment=frame["channel"].fillna(NULL_SEGMENT),
    )
    expected = {}
    for day, rows in frame.groupby("date"):
        groups = [((day, ALL, ALL), rows)]
        groups += [((day, "channel", value), part) for value, part in rows.groupby("segment")]
        for key, part in groups:
            score, p_cal = part["score"].to_numpy(), part["p_cal"].to_numpy()
            expected[key] = (*_direct(score, p_cal), _tied_precision(score, p_cal))
    return expected


@pytest.fixture(scope="module")
def days() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    first = _day(rng, DAY, 1500, labelled_share=0.0)
    # A second day, larger and partly labelled: the estimate still reads every row.
    second = _day(rng, DAY + dt.timedelta(days=1), 2400, labelled_share=0.5)
    return pd.concat([first, second], ignore_index=True)


def test_estimated_aucs_equal_the_pairwise_computation(days: pd.DataFrame) -> None:
    con = duckdb.connect()
    con.register("scored", days)
    calibration = DayCalibration(curves={"score": CURVE})
    result = compute_performance(con, MODEL, "scored", {None: calibration})
    estimated = result[result["is_estimated"]].set_index(
        ["date", "segment_column", "segment_value", "metric"]
    )["value"]
    expected = _expected(days)
    assert len(expected) == 2 * 5  # overall and four channels (one NULL) on each day
    for (day, column, value), (auc, pr_auc, tied) in expected.items():
        assert estimated[(day, column, value, "roc_auc")] == pytest.approx(auc, abs=1e-12)
        assert estimated[(day, column, value, "pr_auc")] == pytest.approx(pr_auc, abs=1e-12)
        assert estimated[(day, column, value, "pr_auc")] == pytest.approx(tied, abs=2e-3)


def test_a_group_without_scores_has_no_estimated_auc(days: pd.DataFrame) -> None:
    """Levels only hold scored rows: a segment with none still reports its AUC rows, NULL."""
    con = duckdb.connect()
    unscored = days.assign(score=np.where(days["channel"] == "store", np.nan, days["score"]))
    con.register("scored", unscored)
    result = compute_performance(con, MODEL, "scored", None)
    store = result[
        result["is_estimated"]
        & (result["segment_value"] == "store")
        & result["metric"].isin(["roc_auc", "pr_auc"])
    ]
    assert len(store) == 4 and store["value"].isna().all()
    # Without a calibration the scores are their own weights; the direct computation agrees.
    web = unscored[(unscored["channel"] == "web") & (unscored["date"] == DAY)]
    auc, pr_auc = _direct(web["score"].to_numpy(), web["score"].to_numpy())
    rows = result[result["is_estimated"] & (result["segment_value"] == "web")]
    rows = rows[rows["date"] == DAY].set_index("metric")["value"]
    assert rows["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert rows["pr_auc"] == pytest.approx(pr_auc, abs=1e-12)
