"""The gated metrics as weighted sums, for resampling: one NumPy pass per block of replicates.

A bootstrap replicate is a weight per row (how often the row was drawn), so every metric of
`perf_pipeline.metrics.registry` that the gate judges is written here over a weight matrix `w`
(replicates x rows): `w @ x` is each replicate's sum of `x`. The registry's SQL stays the one
definition of the point values; evaluating it on 1,000 replicates would be 1,000 times the
rows through DuckDB (about a minute per version for 9,000 rows, measured), so the intervals use
these kernels instead, and `test_gate_statistics` holds each kernel at unit weights equal to
the registry's SQL and to scikit-learn on the same rows.

Rows are one version's labelled rows: `y` (the label is the positive class, or the number),
`p` (the score, NaN when absent), `yhat` (the decision, or the predicted number).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["FAIRNESS", "KERNELS", "Rows", "fairness_gap"]

# As the registry: sklearn's log_loss clips to float64's epsilon.
_EPS = sys.float_info.epsilon


@dataclass(frozen=True)
class Rows:
    """One version's labelled rows as arrays (`y`, `yhat` booleans for a binary classifier,
    numbers for regression; `p` NaN where the row has no score)."""

    y: np.ndarray
    p: np.ndarray
    yhat: np.ndarray

    def subset(self, mask: np.ndarray) -> Rows:
        return Rows(self.y[mask], self.p[mask], self.yhat[mask])

    def __len__(self) -> int:
        return len(self.y)


Kernel = Callable[[np.ndarray, Rows], np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (the registry's NULLIF)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _counts(w: np.ndarray, r: Rows) -> tuple[np.ndarray, ...]:
    y, yhat = r.y.astype(bool), r.yhat.astype(bool)
    tp = w @ (y & yhat)
    fp = w @ (~y & yhat)
    tn = w @ (~y & ~yhat)
    fn = w @ (y & ~yhat)
    return tp, fp, tn, fn


def _accuracy(w: np.ndarray, r: Rows) -> np.ndarray:
    tp, fp, tn, fn = _counts(w, r)
    return _ratio(tp + tn, tp + fp + tn + fn)


def _precision(w: np.ndarray, r: Rows) -> np.ndarray:
    tp, fp, _, _ = _counts(w, r)
    return _ratio(tp, tp + fp)


def _recall(w: np.ndarray, r: Rows) -> np.ndarray:
    tp, _, _, fn = _counts(w, r)
    return _ratio(tp, tp + fn)


def _specificity(w: np.ndarray, r: Rows) -> np.ndarray:
    _, fp, tn, _ = _counts(w, r)
    return _ratio(tn, tn + fp)


def _f1(w: np.ndarray, r: Rows) -> np.ndarray:
    tp, fp, _, fn = _counts(w, r)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _balanced_accuracy(w: np.ndarray, r: Rows) -> np.ndarray:
    tpr, tnr = _recall(w, r), _specificity(w, r)
    # As the registry (and sklearn): a one-class group averages only the recall that exists.
    return (np.where(np.isnan(tpr), tnr, tpr) + np.where(np.isnan(tnr), tpr, tnr)) / 2


def _scored(w: np.ndarray, r: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = ~np.isnan(r.p)
    return w[:, keep], r.y[keep].astype(float), r.p[keep]


def _brier(w: np.ndarray, r: Rows) -> np.ndarray:
    ws, y, p = _scored(w, r)
    return _ratio(ws @ ((p - y) ** 2), ws.sum(axis=1))


def _log_loss(w: np.ndarray, r: Rows) -> np.ndarray:
    ws, y, p = _scored(w, r)
    clipped = np.clip(p, _EPS, 1 - _EPS)
    loss = -np.where(y > 0, np.log(clipped), np.log(1 - clipped))
    return _ratio(ws @ loss, ws.sum(axis=1))


def _levels(w: np.ndarray, r: Rows) -> tuple[np.ndarray, np.ndarray] | None:
    """Positive and negative weight per distinct score, scores ascending (ties share a level,
    as the registry's rank() and sklearn do)."""
    ws, y, p = _scored(w, r)
    if p.size == 0:
        return None
    order = np.argsort(p, kind="stable")
    p, y, ws = p[order], y[order], ws[:, order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    return np.add.reduceat(ws * y, starts, axis=1), np.add.reduceat(ws * (1 - y), starts, axis=1)


def _roc_auc(w: np.ndarray, r: Rows) -> np.ndarray:
    """Mann-Whitney: each positive's weight meets the negative weight below it, ties half."""
    levels = _levels(w, r)
    if levels is None:
        return np.full(w.shape[0], np.nan)
    pos, neg = levels
    below = np.cumsum(neg, axis=1) - neg
    return _ratio((pos * (below + neg / 2)).sum(axis=1), pos.sum(axis=1) * neg.sum(axis=1))


def _pr_auc(w: np.ndarray, r: Rows) -> np.ndarray:
    """Average precision: the mean over positives of the precision among rows at or above."""
    levels = _levels(w, r)
    if levels is None:
        return np.full(w.shape[0], np.nan)
    pos, neg = levels
    rows = pos + neg
    at_or_above = rows.sum(axis=1, keepdims=True) - np.cumsum(rows, axis=1) + rows
    pos_at_or_above = pos.sum(axis=1, keepdims=True) - np.cumsum(pos, axis=1) + pos
    precision = _ratio(pos_at_or_above, at_or_above)
    return _ratio(np.nansum(pos * precision, axis=1), pos.sum(axis=1))


def _errors(w: np.ndarray, r: Rows) -> tuple[np.ndarray, np.ndarray]:
    return r.yhat.astype(float) - r.y.astype(float), w.sum(axis=1)


def _mae(w: np.ndarray, r: Rows) -> np.ndarray:
    e, total = _errors(w, r)
    return _ratio(w @ np.abs(e), total)


def _rmse(w: np.ndarray, r: Rows) -> np.ndarray:
    e, total = _errors(w, r)
    return np.sqrt(_ratio(w @ (e * e), total))


def _r2(w: np.ndarray, r: Rows) -> np.ndarray:
    e, total = _errors(w, r)
    y = r.y.astype(float)
    mean = _ratio(w @ y, total)
    spread = w @ (y * y) - total * mean * mean
    # Constant labels leave r2 undefined, as in the registry.
    return np.where(
        spread > 1e-12 * np.maximum(1, w @ (y * y)), 1 - _ratio(w @ (e * e), spread), np.nan
    )


KERNELS: dict[str, Kernel] = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "brier": _brier,
    "f1": _f1,
    "log_loss": _log_loss,
    "pr_auc": _pr_auc,
    "precision": _precision,
    "recall": _recall,
    "roc_auc": _roc_auc,
    "specificity": _specificity,
    "mae": _mae,
    "r2": _r2,
    "rmse": _rmse,
}


def _positive_rate(w: np.ndarray, r: Rows) -> np.ndarray:
    return _ratio(w @ r.yhat.astype(bool), w.sum(axis=1))


# Fairness metric -> (the per-group kernel it compares, how the group values combine); the
# registry's `across_groups` entries.
FAIRNESS: dict[str, tuple[Kernel, str]] = {
    "demographic_parity_difference": (_positive_rate, "max_minus_min"),
    "equal_opportunity_difference": (_recall, "max_minus_min"),
    "disparate_impact_ratio": (_positive_rate, "min_over_max"),
}


def fairness_gap(w: np.ndarray, r: Rows, groups: np.ndarray, metric: str) -> np.ndarray:
    """A fairness metric per replicate over the groups of one protected attribute (`groups`
    holds each row's group; None is no group, as the registry leaves `__null__` out)."""
    kernel, combine = FAIRNESS[metric]
    names = sorted({g for g in groups if g is not None})
    values = np.column_stack(
        [kernel(w[:, groups == g], r.subset(groups == g)) for g in names]
        or [np.full(w.shape[0], np.nan)]
    )
    defined = (~np.isnan(values)).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a replicate with no defined group
        high, low = np.nanmax(values, axis=1), np.nanmin(values, axis=1)
    gap = high - low if combine == "max_minus_min" else _ratio(low, high)
    return np.where(defined >= 2, gap, np.nan)
