"""DeLong's test for roc_auc: the variance of an AUC, and of the difference of two AUCs measured
on the same rows, from the structural components (DeLong, DeLong & Clarke-Pearson 1988), computed
with midranks as Sun & Xu (2014) do, so it costs a sort per version instead of a pairwise table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AucDifference", "delong_paired", "delong_unpaired"]


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank (scipy's rankdata 'average')."""
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(x)]
    average = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _components(
    positives: np.ndarray, negatives: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC per version and the structural components: `v10` per positive (the share of
    negatives it outranks) and `v01` per negative (the share of positives above it).

    `positives` is (versions x m) scores of the positive rows, `negatives` (versions x n)."""
    k, m = positives.shape
    n = negatives.shape[1]
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    auc = np.empty(k)
    for r in range(k):
        combined = _midranks(np.concatenate([positives[r], negatives[r]]))
        within_pos = _midranks(positives[r])
        within_neg = _midranks(negatives[r])
        v10[r] = (combined[:m] - within_pos) / n
        v01[r] = 1.0 - (combined[m:] - within_neg) / m
        auc[r] = v10[r].mean()
    return auc, v10, v01


def _covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    m, n = v10.shape[1], v01.shape[1]
    return np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


@dataclass(frozen=True)
class AucDifference:
    """candidate - baseline AUC and the standard error of that difference."""

    baseline: float
    candidate: float
    se: float

    @property
    def difference(self) -> float:
        return self.candidate - self.baseline


def delong_paired(y: np.ndarray, baseline: np.ndarray, candidate: np.ndarray) -> AucDifference:
    """Both versions scored the same rows: the difference's variance subtracts their
    covariance, which is what makes a paired comparison so much sharper than two AUCs' CIs."""
    y = y.astype(bool)
    if y.sum() < 2 or (~y).sum() < 2:
        return AucDifference(np.nan, np.nan, np.nan)
    scores = np.vstack([baseline, candidate])
    auc, v10, v01 = _components(scores[:, y], scores[:, ~y])
    cov = _covariance(v10, v01)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return AucDifference(float(auc[0]), float(auc[1]), float(np.sqrt(max(variance, 0.0))))


def _one(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    y = y.astype(bool)
    if y.sum() < 2 or (~y).sum() < 2:
        return np.nan, np.nan
    auc, v10, v01 = _components(scores[y][None, :], scores[~y][None, :])
    return float(auc[0]), float(_covariance(v10, v01)[0, 0])


def delong_unpaired(
    y_baseline: np.ndarray, baseline: np.ndarray, y_candidate: np.ndarray, candidate: np.ndarray
) -> AucDifference:
    """Each version scored its own rows (a traffic split): the variances add."""
    auc_b, var_b = _one(y_baseline, baseline)
    auc_c, var_c = _one(y_candidate, candidate)
    return AucDifference(auc_b, auc_c, float(np.sqrt(max(var_b + var_c, 0.0))))
