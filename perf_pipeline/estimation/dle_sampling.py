"""Which rows of a large day the loss models predict, and the error that sample adds.

A day's DLE estimate is a mean of predicted losses, and predicting costs time per row and tree
(about 40 ms per tree for a million rows on one core, some 20 trees for the two loss models).
A mean is estimated well from a sample whose error can be measured, so a large day is
predicted on a sample, stratified by segment, and that sampling error is added to the interval:

- Each row is kept with the inclusion probability
  π = min(1, max(PREDICT_ROWS / its day's rows, MIN_GROUP_ROWS / the rows of each of its
  groups)): a day of up to `PREDICT_ROWS` rows, and every group of up to `MIN_GROUP_ROWS`, is
  predicted whole (the estimate is then exactly the mean over every row); a larger day keeps
  about `PREDICT_ROWS` rows, and each of its groups at least `MIN_GROUP_ROWS`.
- A row is kept when a hash of its prediction id, read as a number in [0, 1), is below π: the
  same rows on every run (the estimate of a re-run day does not move), independent of the
  features. A relation without a `prediction_id` column is predicted whole.
- A group's estimate is the Hájek mean Σ L/π / Σ 1/π over its kept rows, and the variance that
  adds (Poisson sampling, linearized) is Σ (1 - π)/π² (L - mean)² / N², N the group's rows:
  zero when every row is kept. rmse takes the delta method, var(mse) / (4 mse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from perf_pipeline.sql import quote_literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = [
    "MIN_GROUP_ROWS",
    "PREDICT_ROWS",
    "SAMPLING",
    "Sampling",
    "inclusion_sql",
    "sample_variance",
    "sampled_sums_sql",
    "uniform_sql",
]

PREDICT_ROWS = 200_000
MIN_GROUP_ROWS = 5_000


@dataclass(frozen=True)
class Sampling:
    """How many rows of a day are predicted (about), and of each group at least."""

    predict_rows: int = PREDICT_ROWS
    min_group_rows: int = MIN_GROUP_ROWS


SAMPLING = Sampling()
# 2^64: DuckDB's hash() is a UBIGINT.
_HASH_RANGE = 18446744073709551616.0
_LOSSES = ("absolute", "squared")


def uniform_sql(has_prediction_id: bool) -> str:
    """Each row's number in [0, 1) (0 without prediction ids, so every row is kept)."""
    if not has_prediction_id:
        return "CAST(0 AS DOUBLE)"
    return f"CAST(hash(CAST(prediction_id AS VARCHAR)) AS DOUBLE) / {_HASH_RANGE!r}"


def inclusion_sql(counts: str, segments: int, sampling: Sampling = SAMPLING) -> tuple[str, str]:
    """The joins onto `counts` (day and group sizes: date, segment_rank, segment_value, n) and
    the inclusion probability they give a row `r` (`__dle_date`, `__dle_seg_<i>`)."""
    joins = [f"JOIN {counts} AS c0 ON c0.date = r.__dle_date AND c0.segment_rank = 0"]
    shares = [f"{sampling.predict_rows} / c0.n"]
    for i in range(segments):
        joins.append(
            f"JOIN {counts} AS c{i + 1} ON c{i + 1}.date = r.__dle_date "
            f"AND c{i + 1}.segment_rank = {i + 1} AND c{i + 1}.segment_value = r.__dle_seg_{i}"
        )
        shares.append(f"{sampling.min_group_rows} / c{i + 1}.n")
    return " ".join(joins), f"least(1.0, greatest({', '.join(shares)}))"


def sampled_sums_sql(relation: str, segments: int, all_value: str) -> str:
    """Per (day, group) of the kept rows in `relation` (date, seg_<i>, pi and the losses), the
    sums the Hájek mean and its variance are made of."""
    sums = ["sum(1 / pi) AS weight", "sum((1 - pi) / (pi * pi)) AS spread_weight"]
    for loss in _LOSSES:
        sums += [
            f"sum({loss} / pi) AS {loss}_total",
            f"sum((1 - pi) / (pi * pi) * {loss}) AS {loss}_spread_1",
            f"sum((1 - pi) / (pi * pi) * {loss} * {loss}) AS {loss}_spread_2",
        ]
    measures = ", ".join(sums)
    parts = [
        f"SELECT date, 0 AS segment_rank, {quote_literal(all_value)} AS segment_value, "
        f"{measures} FROM {relation} GROUP BY date"
    ]
    parts += [
        f"SELECT date, {i + 1}, seg_{i}, {measures} FROM {relation} GROUP BY date, seg_{i}"
        for i in range(segments)
    ]
    return "\nUNION ALL\n".join(parts)


def sample_variance(
    first: ArrayLike, second: ArrayLike, mean: ArrayLike, rows: ArrayLike, spread_weight: ArrayLike
) -> np.ndarray:
    """Σ (1-π)/π² (L - mean)² / N² per group, from Σ a·L (`first`), Σ a·L² (`second`) and Σ a
    (`spread_weight`), a = (1-π)/π²; never negative (the expansion can round below zero)."""
    import numpy as np

    first, second, mean = np.asarray(first), np.asarray(second), np.asarray(mean)
    spread = second - 2 * mean * first + mean * mean * np.asarray(spread_weight)
    return np.maximum(spread, 0.0) / np.square(np.asarray(rows, dtype=float))
