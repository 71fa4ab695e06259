"""The numbers behind the drift methods, as Evidently 0.7's legacy stattests compute them.

Users compare our `drift` table with Evidently reports, so every formula, binning rule and floor
follows `evidently.legacy.calculations.stattests`. Evidently itself is not imported: it is slow to
load and a daily job only needs these few formulas. Each side of a comparison is summarised once
as a `ColumnSample`, so a reference used for many days is sorted and counted once.

Which function serves which method, with its threshold and comparison, is the registry's business
(`drift.registry`); this module only computes. NumPy, pandas and SciPy are imported inside the
functions that use them: the registry imports this module when the models file is validated, and
loading the pipeline's code location must not pay for them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Kind = Literal["numerical", "categorical"]
NUMERICAL: Kind = "numerical"
CATEGORICAL: Kind = "categorical"

# Evidently's "few values" (count them, or test proportions) against "continuous".
FEW_UNIQUE_VALUES = 5
HISTOGRAM_MIN_UNIQUE = 20
# Evidently divides Wasserstein by the reference std, but never by less than this.
WASSERSTEIN_STD_FLOOR = 0.001
# scipy's ks_2samp(method='auto') uses the exact distribution up to this many values per side.
KS_MAX_EXACT_N = 10_000


@dataclass(frozen=True)
class ColumnSample:
    """One column on one side of a comparison, nulls and infinities already dropped."""

    kind: Kind
    values: np.ndarray  # sorted values (numerical only; empty for categorical)
    keys: np.ndarray  # sorted distinct values
    counts: np.ndarray  # occurrences of each key
    std: float  # population std (ddof 0), as Evidently normalises Wasserstein

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def from_series(cls, series: pd.Series, kind: Kind) -> ColumnSample:
        import numpy as np

        values = _numeric_values(series) if kind == NUMERICAL else _string_values(series)
        keys, counts = np.unique(values, return_counts=True)
        if kind == CATEGORICAL:
            return cls(kind, np.empty(0), keys, counts, math.nan)
        values = np.sort(values, kind="stable")
        std = float(np.std(values.astype(np.float64))) if values.size else math.nan
        return cls(kind, values, keys, counts, std)


def _numeric_values(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    # Integers stay integers: numpy's Sturges binning treats integer data differently.
    clean = pd.to_numeric(series, errors="raise").dropna()
    if pd.api.types.is_bool_dtype(clean) or pd.api.types.is_integer_dtype(clean):
        return clean.to_numpy(dtype=np.int64)
    values = clean.to_numpy(dtype=np.float64)
    return values[np.isfinite(values)]


def _string_values(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    # A nullable integer column read through a float keeps "1" from turning into "1.0".
    clean = series.dropna()
    if pd.api.types.is_float_dtype(clean) and np.all(np.mod(clean.to_numpy(dtype=float), 1) == 0):
        clean = clean.astype(np.int64)
    return clean.astype(str).to_numpy(dtype=str)


def _union_keys(reference: ColumnSample, current: ColumnSample) -> np.ndarray:
    import numpy as np

    return np.union1d(reference.keys, current.keys)


def _counts_on(keys: np.ndarray, sample: ColumnSample) -> np.ndarray:
    """Occurrences of each of `keys` in `sample`, zero where absent."""
    import numpy as np

    out = np.zeros(keys.shape[0], dtype=np.int64)
    if sample.keys.size == 0:
        return out
    pos = np.searchsorted(sample.keys, keys)
    clipped = np.minimum(pos, sample.keys.size - 1)
    hit = sample.keys[clipped] == keys
    out[hit] = sample.counts[clipped[hit]]
    return out


def unique_count(reference: ColumnSample, current: ColumnSample, enough: int) -> int:
    """Distinct values over both sides, as Evidently counts them to choose a method.

    Counting stops once either side alone has more than `enough`: a large continuous reference
    would otherwise be merged with every day's values just to learn it has more than five.
    """
    largest = max(reference.keys.size, current.keys.size)
    if largest > enough:
        return largest
    return int(_union_keys(reference, current).size)


def ks_test(reference: ColumnSample, current: ColumnSample) -> tuple[float, float]:
    """`scipy.stats.ks_2samp`'s statistic D and two-sided p-value."""
    from scipy import stats

    result = stats.ks_2samp(reference.values, current.values)
    return float(result.statistic), float(result.pvalue)


def ks_p_value_from_statistic(statistic: float, n_reference: int, n_current: int) -> float:
    """`ks_2samp(method='auto')`'s two-sided p-value, from its statistic and the sample sizes.

    The SQL path finds the statistic without the raw arrays, so the p-value is rebuilt here with
    SciPy's own distribution code and its own switches: the exact distribution when both sides
    have at most 10,000 values (falling back to the asymptotic one when it cannot be computed),
    `kstwo.sf(d, round(m n / (m + n)))` otherwise.
    """
    import numpy as np
    from scipy import stats
    from scipy.stats import _stats_py

    d = float(statistic)
    n1, n2 = int(n_reference), int(n_current)
    exact_done = False
    prob = math.nan
    if max(n1, n2) <= KS_MAX_EXACT_N:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            exact_done, d, prob = _stats_py._attempt_exact_2kssamp(
                n1, n2, math.gcd(n1, n2), d, "two-sided"
            )
    if not exact_done:
        m, n = sorted([float(n1), float(n2)], reverse=True)
        prob = stats.kstwo.sf(d, np.round(m * n / (m + n)))
    return float(np.clip(prob, 0, 1))


def chisquare_test(reference: ColumnSample, current: ColumnSample) -> tuple[float, float]:
    """`scipy.stats.chisquare`'s statistic and p-value, as Evidently calls it.

    Current counts are compared with reference shares scaled to the current size. A value absent
    from the reference has an expected count of 0: the statistic is +inf and the p-value 0,
    exactly as in Evidently (which keeps only the p-value). The infinity is stored as it is
    (DuckDB and Parquet DOUBLE hold it) rather than as NULL, since it is SciPy's true answer.
    """
    import numpy as np
    from scipy import stats

    keys = _union_keys(reference, current)
    f_exp = _counts_on(keys, reference) * (current.n / reference.n)
    f_obs = _counts_on(keys, current)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.chisquare(f_obs, f_exp)
    return float(result.statistic), float(result.pvalue)


def z_test(reference: ColumnSample, current: ColumnSample) -> tuple[float, float]:
    """Two-proportion z-test of "not the smallest value", two-sided, Evidently's formula.

    The statistic is Evidently's `proportions_diff_z_stat_ind`, signed: reference share minus
    current share over the pooled standard error (statsmodels' `proportions_ztest` with its
    default pooled variance gives the same number). When both sides hold one and the same
    value Evidently skips the test and says p = 1; the shares are then equal, so z is stored
    as 0, which is what that p-value corresponds to (rather than the 0 / 0 of the formula).
    """
    import numpy as np
    from scipy import stats

    same_constant = (
        reference.keys.size == 1 and current.keys.size == 1 and reference.keys[0] == current.keys[0]
    )
    if same_constant:
        return 0.0, 1.0
    first = _union_keys(reference, current)[:1]
    n1, n2 = reference.n, current.n
    p1 = float(n1 - _counts_on(first, reference)[0]) / n1
    p2 = float(n2 - _counts_on(first, current)[0]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = float((p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2)))
    return z, float(2 * (1 - stats.norm.cdf(np.abs(z))))


def wasserstein_norm(reference: ColumnSample, current: ColumnSample) -> float:
    """First Wasserstein distance over max(reference std, 0.001).

    Same steps as `scipy.stats.wasserstein_distance`, minus re-sorting the reference every day.
    """
    import numpy as np

    u = reference.values.astype(np.float64)
    v = current.values.astype(np.float64)
    all_values = np.concatenate((u, v))
    all_values.sort(kind="mergesort")
    deltas = np.diff(all_values)
    u_cdf = u.searchsorted(all_values[:-1], "right") / u.size
    v_cdf = v.searchsorted(all_values[:-1], "right") / v.size
    distance_value = float(np.dot(np.abs(u_cdf - v_cdf), deltas))
    return distance_value / max(reference.std, WASSERSTEIN_STD_FLOOR)


def _histogram_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    import numpy as np

    # np.histogram's own counting for explicit edges: last bin closed on the right.
    cum = np.concatenate(
        (
            sorted_values.searchsorted(edges[:-1], "left"),
            sorted_values.searchsorted(edges[-1:], "right"),
        )
    )
    return np.diff(cum)


def _fill_zeros(shares: np.ndarray) -> np.ndarray:
    """Evidently's floor for empty bins, so PSI's log stays finite."""
    import numpy as np

    smallest = shares[shares != 0].min()
    floor = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, floor, shares)


def uses_histogram(reference: ColumnSample) -> bool:
    """Evidently bins numbers with more than 20 distinct reference values, counts the rest."""
    return reference.kind == NUMERICAL and reference.keys.size > HISTOGRAM_MIN_UNIQUE


def binned_counts(reference: ColumnSample, current: ColumnSample) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's `get_binned_data` before normalising: counts per Sturges bin or per value.

    Histogram bins span both sides together; values are compared over the union of both sides.
    """
    import numpy as np

    if uses_histogram(reference):
        edges = np.histogram_bin_edges(
            np.concatenate((reference.values, current.values)), bins="sturges"
        )
        return _histogram_counts(reference.values, edges), _histogram_counts(current.values, edges)
    keys = _union_keys(reference, current)
    return _counts_on(keys, reference), _counts_on(keys, current)


def shares_from_counts(
    ref_counts: np.ndarray, cur_counts: np.ndarray, fill_zeros: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Counts over the same bins as shares of each side, zeros floored for PSI."""
    ref_shares = ref_counts / ref_counts.sum()
    cur_shares = cur_counts / cur_counts.sum()
    if fill_zeros:
        return _fill_zeros(ref_shares), _fill_zeros(cur_shares)
    return ref_shares, cur_shares


def jensenshannon_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of the two sides' shares over the same bins."""
    from scipy.spatial import distance

    ref_shares, cur_shares = shares_from_counts(ref_counts, cur_counts, fill_zeros=False)
    return float(distance.jensenshannon(ref_shares, cur_shares))


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of the shares, empty bins floored as Evidently does."""
    import numpy as np

    ref_shares, cur_shares = shares_from_counts(ref_counts, cur_counts, fill_zeros=True)
    return float(np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares)))


def jensenshannon_distance(reference: ColumnSample, current: ColumnSample) -> float:
    return jensenshannon_from_counts(*binned_counts(reference, current))


def psi(reference: ColumnSample, current: ColumnSample) -> float:
    return psi_from_counts(*binned_counts(reference, current))


@dataclass(frozen=True)
class EcdfSummary:
    """What one merged walk over two sorted numerical sides yields (the SQL path's fast form):
    the KS statistic D, the raw Wasserstein-1 distance, both sizes and the reference's
    population std."""

    ks: float
    w1: float
    n_reference: int
    n_current: int
    reference_std: float


def ks_from_ecdf(summary: EcdfSummary) -> tuple[float, float]:
    """`ks_test`'s (D, p-value) from the walk: the p-value rebuilt from D and the sizes."""
    return summary.ks, ks_p_value_from_statistic(summary.ks, summary.n_reference, summary.n_current)


def wasserstein_from_ecdf(summary: EcdfSummary) -> float:
    """`wasserstein_norm` from the walk."""
    return summary.w1 / max(summary.reference_std, WASSERSTEIN_STD_FLOOR)
