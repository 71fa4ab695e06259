"""The drift-method registry: every name `drift.methods` accepts is one `DriftMethod` entry.

An entry holds everything the drift table needs to know about a method: the column kinds it
applies to, whether its threshold applies to a p-value or to the statistic itself (a distance),
its default threshold and comparison (Evidently's, for the methods Evidently has), and how to
compute it. Both drift paths, the pandas one (`compute`) and the DuckDB/NumPy one (`sql`), read
the same entry, so adding a method is one entry in `DRIFT_METHODS` and
`drift: {methods: {column: name}}` in models.yaml accepts it at once.

How a method is computed, one of:

- `on_bins(reference_counts, current_counts)`: counts of each side over the same bins, Evidently's
  `get_binned_data` before normalising (Sturges bins spanning both sides for numbers with more
  than 20 distinct reference values, one bin per value otherwise). Distances between
  distributions (Jensen-Shannon, PSI, Hellinger) are this.
- `on_samples(reference, current)`: the two `ColumnSample`s (sorted `values` for numbers, sorted
  distinct `keys` with their `counts` for both kinds). Set `reads_values=False` when only keys and
  counts are read: the SQL path then never expands a large reference into its raw values.
  `on_ecdf` optionally gives the same numbers from an `EcdfSummary` (KS D, raw Wasserstein-1,
  sizes, reference std), which the SQL path gets from one merged walk without building samples.

A measure returns the statistic alone (a float) when `threshold_on="statistic"`, and
`(statistic, p_value)` when `threshold_on="p_value"`. The `drift` table stores the statistic in
`statistic` and the p-value (or NULL) in `p_value`; `drifted` is `thresholded value <comparison>
threshold`. No SciPy at import: the kernels import it when they run.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from perf_pipeline.drift.kernels import (
    CATEGORICAL,
    NUMERICAL,
    ColumnSample,
    EcdfSummary,
    Kind,
    binned_counts,
    chisquare_test,
    jensenshannon_from_counts,
    ks_from_ecdf,
    ks_test,
    psi_from_counts,
    wasserstein_from_ecdf,
    wasserstein_norm,
    z_test,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DRIFT_METHODS",
    "DriftMethod",
    "get",
    "method_names",
    "numerical_only_method_names",
    "p_value_method_names",
]

Comparison = Literal["<", "<=", ">", ">="]
Measured = float | tuple[float, float]
SampleMeasure = Callable[[ColumnSample, ColumnSample], Measured]
# NumPy is named, not imported: these aliases are built when the models file is validated.
BinnedMeasure = Callable[["np.ndarray", "np.ndarray"], Measured]
EcdfMeasure = Callable[[EcdfSummary], Measured]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class DriftMethod:
    """One drift method, defined once (see the module docstring for the fields)."""

    name: str
    threshold_on: Literal["p_value", "statistic"]
    default_threshold: float
    drifted_when: Comparison
    kinds: tuple[Kind, ...] = (NUMERICAL, CATEGORICAL)
    on_samples: SampleMeasure | None = None
    on_bins: BinnedMeasure | None = None
    on_ecdf: EcdfMeasure | None = None
    reads_values: bool = True

    def __post_init__(self) -> None:
        if (self.on_samples is None) == (self.on_bins is None):
            raise ValueError(f"drift method {self.name!r} needs exactly one of on_samples, on_bins")
        if self.on_ecdf is not None and NUMERICAL not in self.kinds:
            raise ValueError(f"drift method {self.name!r}: on_ecdf needs numerical columns")
        if self.drifted_when not in _COMPARE:
            raise ValueError(f"drift method {self.name!r}: drifted_when must be one of {_COMPARE}")
        if self.threshold_on not in ("p_value", "statistic"):
            raise ValueError(f"drift method {self.name!r}: threshold_on is p_value or statistic")
        if not self.kinds or not set(self.kinds) <= {NUMERICAL, CATEGORICAL}:
            raise ValueError(f"drift method {self.name!r}: kinds must be numerical/categorical")

    @property
    def uses_p_value(self) -> bool:
        return self.threshold_on == "p_value"

    def measure(self, reference: ColumnSample, current: ColumnSample) -> tuple[float, float | None]:
        """`(statistic, p_value)` on two non-empty sides; p_value None for a distance."""
        if self.on_bins is not None:
            return self.pair(self.on_bins(*binned_counts(reference, current)))
        assert self.on_samples is not None  # __post_init__ guarantees one of the two
        return self.pair(self.on_samples(reference, current))

    def pair(self, measured: Measured) -> tuple[float, float | None]:
        """A measure's return value as `(statistic, p_value)`, checked against `threshold_on`,
        so a p-value method that forgot its p-value fails loudly instead of storing NULLs."""
        if self.uses_p_value:
            if not isinstance(measured, tuple) or len(measured) != 2:
                raise TypeError(f"drift method {self.name!r} must return (statistic, p_value)")
            return float(measured[0]), float(measured[1])
        if isinstance(measured, tuple):
            raise TypeError(f"drift method {self.name!r} thresholds its statistic: return a float")
        return float(measured), None

    def thresholded(self, statistic: float | None, p_value: float | None) -> float | None:
        """What `threshold` applies to: the p-value, or the statistic itself."""
        return p_value if self.uses_p_value else statistic

    def is_drifted(self, score: float, threshold: float) -> bool:
        """`score` is the thresholded value (never a p-value test's statistic)."""
        return bool(_COMPARE[self.drifted_when](score, threshold))


# Evidently 0.7's StatTests: default thresholds and comparisons (KS `<=`, chi-square and z `<`,
# distances `>=`), numbers reproduced by the kernels.
DRIFT_METHODS: tuple[DriftMethod, ...] = (
    DriftMethod(
        "ks",
        threshold_on="p_value",
        default_threshold=0.05,
        drifted_when="<=",
        kinds=(NUMERICAL,),
        on_samples=ks_test,
        on_ecdf=ks_from_ecdf,
    ),
    DriftMethod(
        "chisquare",
        threshold_on="p_value",
        default_threshold=0.05,
        drifted_when="<",
        on_samples=chisquare_test,
        reads_values=False,
    ),
    DriftMethod(
        "z",
        threshold_on="p_value",
        default_threshold=0.05,
        drifted_when="<",
        on_samples=z_test,
        reads_values=False,
    ),
    DriftMethod(
        "wasserstein",
        threshold_on="statistic",
        default_threshold=0.1,
        drifted_when=">=",
        kinds=(NUMERICAL,),
        on_samples=wasserstein_norm,
        on_ecdf=wasserstein_from_ecdf,
    ),
    DriftMethod(
        "jensenshannon",
        threshold_on="statistic",
        default_threshold=0.1,
        drifted_when=">=",
        on_bins=jensenshannon_from_counts,
    ),
    DriftMethod(
        "psi",
        threshold_on="statistic",
        default_threshold=0.1,
        drifted_when=">=",
        on_bins=psi_from_counts,
    ),
)


def _by_name() -> dict[str, DriftMethod]:
    """The registry by name, read afresh each call, so an entry added to `DRIFT_METHODS` (or
    patched in by a test) is seen at once; a name given twice is a mistake, not an override."""
    entries: dict[str, DriftMethod] = {}
    for entry in DRIFT_METHODS:
        if entry.name in entries:
            raise ValueError(f"drift method {entry.name!r} is registered twice")
        entries[entry.name] = entry
    return entries


def method_names() -> tuple[str, ...]:
    """Every method `drift.methods` may name, in registry order."""
    return tuple(_by_name())


def numerical_only_method_names() -> frozenset[str]:
    """Methods that cannot run on a categorical column."""
    return frozenset(name for name, entry in _by_name().items() if CATEGORICAL not in entry.kinds)


def p_value_method_names() -> frozenset[str]:
    """Methods whose threshold applies to a p-value: what a multiple-testing correction adjusts."""
    return frozenset(name for name, entry in _by_name().items() if entry.uses_p_value)


def get(name: str) -> DriftMethod:
    """The entry of `name`; an unknown name fails with the names that exist."""
    entry = _by_name().get(name)
    if entry is None:
        raise KeyError(f"drift method {name!r} is unknown; choose one of {sorted(_by_name())}")
    return entry
