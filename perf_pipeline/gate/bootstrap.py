"""Resampling: seeded bootstrap weights in blocks, and percentile intervals of a difference.

A replicate draws n rows with replacement, which is a multinomial count per row; the counts of a
block of replicates are one `bincount` (no Python loop per replicate). Paired comparisons give
both versions the same counts, so a request drawn twice counts twice for both, which is what
removes the requests' own difficulty from the difference. Blocks keep memory to a few tens of
megabytes whatever the rows, and each block is drawn from one seeded generator in order, so the
same inputs always give the same intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["block_sizes", "differences", "draw_counts", "percentile_interval", "weight_blocks"]

_BLOCK_CELLS = 4_000_000


def block_sizes(rows: int, resamples: int) -> list[int]:
    """Replicates per block, so a block holds about `_BLOCK_CELLS` weights."""
    per_block = max(1, min(resamples, _BLOCK_CELLS // max(rows, 1)))
    full, rest = divmod(resamples, per_block)
    return [per_block] * full + ([rest] if rest else [])


def draw_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(replicates x n) draw counts, as float so `w @ x` is a BLAS product."""
    drawn = rng.integers(0, n, size=(replicates, n)) + (np.arange(replicates) * n)[:, None]
    counts = np.bincount(drawn.ravel(), minlength=replicates * n)
    return counts.reshape(replicates, n).astype(np.float64)


def weight_blocks(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The draw counts of `resamples` replicates over n rows, block by block."""
    for b in block_sizes(n, resamples):
        yield draw_counts(n, b, rng)


Statistic = Callable[[np.ndarray], np.ndarray]


def differences(
    statistics: dict[str, tuple[Statistic, Statistic]],
    n_baseline: int,
    n_candidate: int | None,
    resamples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """candidate - baseline per replicate, for every named pair of statistics.

    Each statistic maps a weight block to one value per replicate. `n_candidate` None means
    paired: both statistics read the same weights over the same n rows. Otherwise the versions
    are resampled independently (a traffic split: different requests)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    if n_candidate is None:
        for w in weight_blocks(n_baseline, resamples, rng):
            for name, (base, cand) in statistics.items():
                out[name].append(cand(w) - base(w))
    else:
        for b in block_sizes(max(n_baseline, n_candidate), resamples):
            w_base, w_cand = draw_counts(n_baseline, b, rng), draw_counts(n_candidate, b, rng)
            for name, (base, cand) in statistics.items():
                out[name].append(cand(w_cand) - base(w_base))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The two-sided percentile interval; replicates where the metric is undefined (a resample
    with no positive, say) are left out. NaN when none is defined."""
    defined = replicates[~np.isnan(replicates)]
    if defined.size < 2:
        return np.nan, np.nan
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.quantile(defined, [tail, 1 - tail])
    return float(low), float(high)
