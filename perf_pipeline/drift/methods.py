"""One column's drift: which method runs (Evidently's default rule or the model's override),
with which threshold, and what the verdict is.

Users compare our `drift` table with Evidently reports, so the default selection and every
method's threshold and comparison (`<=` against `<`) follow Evidently 0.7's legacy stattests;
the numbers come from `kernels`, the per-method facts from the `registry`.

Evidently keeps one "drift score" per column: the p-value for ks/chisquare/z, the distance
otherwise. We keep the same numbers and verdicts, but store a p-value test's own statistic in
`statistic` (KS D and chi-square as SciPy reports them; z as Evidently's pooled two-proportion
formula gives it) and its p-value in `p_value`, since that is what both names mean to the
people reading the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perf_pipeline.drift import registry
from perf_pipeline.drift.kernels import (
    CATEGORICAL,
    FEW_UNIQUE_VALUES,
    NUMERICAL,
    ColumnSample,
    Kind,
    ks_p_value_from_statistic,
    unique_count,
)

__all__ = [
    "CATEGORICAL",
    "NUMERICAL",
    "SMALL_REFERENCE_ROWS",
    "ColumnSample",
    "Kind",
    "TestResult",
    "check_method",
    "default_method",
    "is_drifted",
    "ks_p_value_from_statistic",
    "measure",
    "method_for",
    "psi_or_none",
    "result_of",
    "run_test",
    "thresholded_value",
]

# Evidently's switch from p-value tests (small references) to distances.
SMALL_REFERENCE_ROWS = 1000
PSI = "psi"


@dataclass(frozen=True)
class TestResult:
    """What one method says about one column, as the `drift` table stores it.

    `statistic` is the test's own statistic (KS D, chi-square, signed z) or, for distance
    methods, the distance; `p_value` is the p-value of the p-value methods and None otherwise.
    `threshold` applies to the p-value for p-value methods and to the distance otherwise
    (`thresholded_value`).
    """

    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool | None


def default_method(reference: ColumnSample, current: ColumnSample) -> str:
    """Evidently's `_get_default_stattest`: small references get p-value tests, large distances."""
    n_values = unique_count(reference, current, enough=FEW_UNIQUE_VALUES)
    return method_for(reference.kind, reference.n, n_values)


def method_for(kind: Kind, n_reference: int, n_values: int) -> str:
    """The selection rule itself, from the reference kind and size and the distinct values."""
    continuous = kind == NUMERICAL and n_values > FEW_UNIQUE_VALUES
    if n_reference <= SMALL_REFERENCE_ROWS:
        if continuous:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    return "wasserstein" if continuous else "jensenshannon"


def measure(
    method: str, reference: ColumnSample, current: ColumnSample
) -> tuple[float, float | None]:
    """`(statistic, p_value)` of one method on two non-empty sides; p_value None for distances."""
    return registry.get(method).measure(reference, current)


def thresholded_value(method: str, statistic: float | None, p_value: float | None) -> float | None:
    """What `threshold` applies to: the p-value for p-value methods, the distance otherwise."""
    return registry.get(method).thresholded(statistic, p_value)


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """The method's own comparison (Evidently's: KS `<=`, chi-square and z `<`, distances `>=`).

    `score` is the p-value for p-value methods (never their statistic), the distance otherwise.
    """
    return registry.get(method).is_drifted(score, threshold)


def result_of(method: str, statistic: float, p_value: float | None, threshold: float) -> TestResult:
    """A measured column's result; both the pandas and the SQL path build rows with it.

    When the value `threshold` applies to is NaN nothing is known, so the row is all NULL, as
    for an empty side.
    """
    entry = registry.get(method)
    score = entry.thresholded(statistic, p_value)
    if score is None or math.isnan(score):
        return TestResult(method, None, None, threshold, None)
    stored_statistic = None if math.isnan(statistic) else float(statistic)
    stored_p_value = None if p_value is None else float(p_value)
    return TestResult(
        method, stored_statistic, stored_p_value, threshold, entry.is_drifted(score, threshold)
    )


def check_method(method: str, kind: Kind, column: str) -> None:
    """Fail when the config is loaded, not halfway through a backfill."""
    if method not in registry.method_names():
        raise ValueError(
            f"drift method {method!r} for column {column!r} is unknown; "
            f"choose one of {sorted(registry.method_names())}"
        )
    kinds = registry.get(method).kinds
    if kind not in kinds:
        raise ValueError(
            f"drift method {method!r} needs a {' or '.join(kinds)} column; {column!r} is {kind}"
        )


def default_threshold(method: str, threshold: float | None) -> float:
    """The configured threshold, or the method's default."""
    return registry.get(method).default_threshold if threshold is None else float(threshold)


def run_test(
    reference: ColumnSample,
    current: ColumnSample,
    method: str | None = None,
    threshold: float | None = None,
) -> TestResult:
    """One column's drift: the default method unless one is given; NULL when a side is empty."""
    method = method or default_method(reference, current)
    threshold = default_threshold(method, threshold)
    if reference.n == 0 or current.n == 0:
        return TestResult(method, None, None, threshold, None)
    statistic, p_value = measure(method, reference, current)
    return result_of(method, statistic, p_value, threshold)


def psi_or_none(reference: ColumnSample, current: ColumnSample) -> float | None:
    """PSI alongside every column; NULL when a side is empty."""
    if reference.n == 0 or current.n == 0:
        return None
    return measure(PSI, reference, current)[0]
