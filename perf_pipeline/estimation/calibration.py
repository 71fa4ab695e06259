"""Isotonic calibration of a classifier's scores, fitted on the labelled reference rows.

CBPE reads each row's calibrated score as the probability of its label, so the scores must be
calibrated; raw scores rarely are. The calibration is isotonic regression of the label on the
score (one-vs-rest per class for multiclass, renormalized to sum to 1), as NannyML fits it, and
it is kept only where it helps: on 5 held-out folds of the reference, the calibrated scores'
Brier score must be lower than the raw scores'. Otherwise the scores are used as they are
(isotonic regression over-fits scores that are already calibrated).

A fitted curve is its breakpoints (`X_thresholds_`, `y_thresholds_`): `np.interp` over them is
exactly `IsotonicRegression(out_of_bounds="clip").predict`, which is what the SQL reproduces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FOLDS", "CalibrationFit", "apply_curve", "fit_binary", "fit_multiclass"]

FOLDS = 5
_NO_HELP = "raw scores: calibration did not lower the held-out Brier score"
_HELPS = "isotonic: lower held-out Brier score"
Curve = tuple[list[float], list[float]]


@dataclass(frozen=True)
class CalibrationFit:
    """The fitted curves (empty when the raw scores are kept) and why.

    `raw_brier` and `calibrated_brier` are the held-out Brier scores the choice was made on.
    """

    curves: dict[str, Curve] = field(default_factory=dict)
    reason: str = ""
    raw_brier: float | None = None
    calibrated_brier: float | None = None

    @property
    def calibrated(self) -> bool:
        return bool(self.curves)


def _isotonic(scores: np.ndarray, target: np.ndarray):  # -> IsotonicRegression
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, target)


def _curve(scores: np.ndarray, target: np.ndarray) -> Curve:
    model = _isotonic(scores, target)
    return [float(v) for v in model.X_thresholds_], [float(v) for v in model.y_thresholds_]


def apply_curve(scores: np.ndarray, curve: Curve) -> np.ndarray:
    """The calibrated scores (what the SQL computes), for tests and the fitting itself."""
    import numpy as np

    return np.interp(scores, curve[0], curve[1])


def _folds(n: int, seed: int = 0):
    from sklearn.model_selection import KFold

    return KFold(n_splits=FOLDS, shuffle=True, random_state=seed).split(range(n))


def _multiclass_calibrated(
    train: np.ndarray, train_idx: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """One-vs-rest isotonic per class, renormalized to sum to 1 (a zero row is left at 0)."""
    import numpy as np

    columns = [
        _isotonic(train[:, k], (train_idx == k).astype(float)).predict(test[:, k])
        for k in range(train.shape[1])
    ]
    calibrated = np.column_stack(columns)
    total = calibrated.sum(axis=1, keepdims=True)
    return np.divide(calibrated, total, out=np.zeros_like(calibrated), where=total > 0)


def fit_binary(scores: np.ndarray, positive: np.ndarray, column: str = "score") -> CalibrationFit:
    """Calibrate `scores` against the boolean labels `positive` where held-out folds say so."""
    import numpy as np

    target = positive.astype(float)
    raw_error = calibrated_error = 0.0
    for train, test in _folds(len(scores)):
        predicted = _isotonic(scores[train], target[train]).predict(scores[test])
        calibrated_error += float(np.sum((predicted - target[test]) ** 2))
        raw_error += float(np.sum((scores[test] - target[test]) ** 2))
    raw, calibrated = raw_error / len(scores), calibrated_error / len(scores)
    if calibrated >= raw:
        return CalibrationFit(
            {}, "raw scores: calibration did not help on held-out folds", raw, calibrated
        )
    curves = {column: _curve(scores, target)}
    return CalibrationFit(curves, _HELPS, raw, calibrated)


def fit_multiclass(scores: np.ndarray, label_idx: np.ndarray, columns: list[str]) -> CalibrationFit:
    """One-vs-rest isotonic curves, kept when the renormalized held-out Brier score is lower.

    `scores` is (rows, classes) in `columns` order; `label_idx` the 0-based true class.
    """
    import numpy as np

    onehot = np.eye(scores.shape[1])[label_idx]
    raw_error = calibrated_error = 0.0
    for train, test in _folds(len(scores)):
        predicted = _multiclass_calibrated(scores[train], label_idx[train], scores[test])
        calibrated_error += float(np.sum((predicted - onehot[test]) ** 2))
        raw_error += float(np.sum((scores[test] - onehot[test]) ** 2))
    raw, calibrated = raw_error / len(scores), calibrated_error / len(scores)
    if calibrated >= raw:
        return CalibrationFit(
            {}, "raw scores: calibration did not help on held-out folds", raw, calibrated
        )
    curves = {
        column: _curve(scores[:, k], (label_idx == k).astype(float))
        for k, column in enumerate(columns)
    }
    return CalibrationFit(
        curves, "isotonic one-vs-rest: lower held-out Brier score", raw, calibrated
    )
