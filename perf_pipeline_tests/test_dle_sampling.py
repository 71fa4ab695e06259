"""DLE on a large day predicts a stratified sample of its rows and widens the interval by the
error that sample adds (`perf_pipeline.estimation.dle_sampling`).

The reference is the truth here: each estimate is compared with the mean of the loss models'
predictions over every row of its group (what the estimate was before sampling), computed in
NumPy on the same rows. A day under the cap must give exactly that; a sampled day must stay
within its added error of it, keep its counts, predict small groups whole and pick the same
rows on every run; and over many days the added error must be the right size.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.estimation.dle import Z95, LossModel, fit_loss_model
from perf_pipeline.estimation.dle_days import estimate_days
from perf_pipeline.estimation.dle_sampling import Sampling
from perf_pipeline.metrics.performance import ALL, NULL_SEGMENT

DAY = dt.date(2026, 6, 1)
MODEL = ModelConfig(
    model_id="sampled",
    task="regression",
    start_date=DAY,
    features={"numerical": ["x"], "categorical": ["region"]},
    segments=["region"],
)
# A 20,000-row day keeps about 2,000 rows, and each group at least 600; `rare` (300 rows) and
# the NULL region (about 1,000) are predicted whole or nearly.
SMALL_SAMPLE = Sampling(predict_rows=2_000, min_group_rows=600)


def _rows(rng: np.random.Generator, n: int, day: dt.date, offset: int = 0) -> pd.DataFrame:
    """Noise growing with x and doubled in `west`; `rare` holds 300 rows, about 5 % are NULL."""
    region = rng.choice(np.array(["north", "west", None], dtype=object), n, p=[0.6, 0.35, 0.05])
    region[:300] = "rare"
    x = rng.normal(0, 1, n)
    prediction = 10 + 3 * x
    noise = np.exp(0.5 * x) * np.where(region == "west", 2.0, 1.0)
    return pd.DataFrame(
        {
            "date": day,
            "prediction_id": [f"{day}-{offset + i}" for i in range(n)],
            "x": x,
            "region": region,
            "prediction": prediction,
            "label": np.where(rng.random(n) < 0.1, prediction + rng.normal(0, noise), np.nan),
        }
    )


@pytest.fixture(scope="module")
def loss_model() -> LossModel:
    rng = np.random.default_rng(4)
    reference = _rows(rng, 8000, DAY)
    reference["label"] = reference["prediction"] + rng.normal(0, np.exp(0.5 * reference["x"]))
    fitted = fit_loss_model(reference, ["x"], ["region"])
    assert fitted is not None
    return fitted


def _estimate(
    frame: pd.DataFrame, loss_model: LossModel, sampling: Sampling, days: list[dt.date]
) -> pd.DataFrame:
    con = duckdb.connect()
    con.register("scored", frame)
    rows = estimate_days(con, MODEL, "scored", days, loss_model, sampling)
    return pd.DataFrame(rows).set_index(["date", "segment_value", "metric"])


def _full_means(frame: pd.DataFrame, loss_model: LossModel) -> pd.DataFrame:
    """Mean predicted mae and mse of every row of each group, NumPy over the whole day."""
    absolute, squared = loss_model.losses(frame)
    losses = pd.DataFrame(
        {
            "segment_value": frame["region"].fillna(NULL_SEGMENT),
            "mae": absolute,
            "mse": squared,
            "labelled": frame["label"].notna(),
        }
    )
    per_group = losses.groupby("segment_value").agg(
        mae=("mae", "mean"), mse=("mse", "mean"), n=("mae", "size"), labelled=("labelled", "mean")
    )
    overall = pd.DataFrame(
        {
            "mae": [absolute.mean()],
            "mse": [squared.mean()],
            "n": [len(frame)],
            "labelled": [frame["label"].notna().mean()],
        },
        index=pd.Index([ALL], name="segment_value"),
    )
    return pd.concat([overall, per_group])


def _sampling_sd(row: pd.Series, loss_model: LossModel) -> float:
    """The added error behind an interval: half² = z²(se_unit²/n + V)."""
    half = row["ci_high"] - row["value"]
    added = (half / Z95) ** 2 - loss_model.se_unit[row.name[2]] ** 2 / row["n"]
    return math.sqrt(max(added, 0.0))


@pytest.fixture(scope="module")
def day(loss_model: LossModel) -> pd.DataFrame:
    return _rows(np.random.default_rng(5), 20_000, DAY)


def test_a_day_under_the_cap_is_every_rows_mean(day: pd.DataFrame, loss_model: LossModel):
    estimated = _estimate(day, loss_model, Sampling(predict_rows=20_000), [DAY])
    for segment, full in _full_means(day, loss_model).iterrows():
        for metric in ("mae", "mse"):
            row = estimated.loc[(DAY, segment, metric)]
            assert row["value"] == pytest.approx(full[metric], rel=1e-12)
            expected = loss_model.interval(metric, full[metric], int(full["n"]))
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(expected, rel=1e-12)


def test_a_sampled_day_stays_within_its_added_error(day: pd.DataFrame, loss_model: LossModel):
    whole = _estimate(day, loss_model, Sampling(predict_rows=20_000), [DAY])
    sampled = _estimate(day, loss_model, SMALL_SAMPLE, [DAY])
    assert sampled.index.equals(whole.index)
    assert (sampled["n"] == whole["n"]).all()
    assert (sampled["label_coverage"] == whole["label_coverage"]).all()
    assert (sampled["ci_high"] - sampled["ci_low"] >= whole["ci_high"] - whole["ci_low"]).all()
    for key, row in sampled.iterrows():
        sd = _sampling_sd(row, loss_model)
        assert abs(row["value"] - whole.loc[key, "value"]) <= 4 * sd + 1e-12, key
    # The overall group was sampled (about 2,000 of 20,000 rows): its interval grew.
    assert _sampling_sd(sampled.loc[(DAY, ALL, "mae")], loss_model) > 0
    # `rare` has fewer rows than a group's minimum: predicted whole, so exact.
    rare = sampled.xs("rare", level="segment_value")
    assert rare["value"].to_numpy() == pytest.approx(
        whole.xs("rare", level="segment_value")["value"].to_numpy(), rel=1e-12
    )


def test_a_rerun_predicts_the_same_rows(day: pd.DataFrame, loss_model: LossModel) -> None:
    first = _estimate(day, loss_model, SMALL_SAMPLE, [DAY])
    again = _estimate(day.sample(frac=1.0, random_state=1), loss_model, SMALL_SAMPLE, [DAY])
    pd.testing.assert_frame_equal(first, again.loc[first.index])


def test_the_added_error_has_the_right_size(loss_model: LossModel) -> None:
    """Over 40 days (each its own prediction ids, so its own sample) the sampled overall mae
    minus every row's mean, divided by the added error, has a standard deviation near 1."""
    rng = np.random.default_rng(6)
    days = [DAY + dt.timedelta(days=i) for i in range(40)]
    frame = pd.concat(
        [_rows(rng, 10_000, d, offset=i * 10_000) for i, d in enumerate(days)], ignore_index=True
    )
    sampled = _estimate(frame, loss_model, SMALL_SAMPLE, days)
    scores = []
    for d in days:
        full = _full_means(frame[frame["date"] == d], loss_model).loc[ALL]
        row = sampled.loc[(d, ALL, "mae")]
        scores.append((row["value"] - full["mae"]) / _sampling_sd(row, loss_model))
    assert 0.7 < float(np.std(scores)) < 1.35
    assert abs(float(np.mean(scores))) < 0.5


def test_rows_without_prediction_ids_are_all_predicted(
    day: pd.DataFrame, loss_model: LossModel
) -> None:
    """No id to draw the same rows by on a re-run: the whole day, exactly, unsampled."""
    without_ids = day.drop(columns="prediction_id")
    estimated = _estimate(without_ids, loss_model, SMALL_SAMPLE, [DAY])
    for segment, full in _full_means(day, loss_model).iterrows():
        row = estimated.loc[(DAY, segment, "mae")]
        assert row["value"] == pytest.approx(full["mae"], rel=1e-12)
        assert _sampling_sd(row, loss_model) < 1e-6  # rounding of the interval only
