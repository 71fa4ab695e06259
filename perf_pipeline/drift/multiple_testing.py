"""Optional false-discovery-rate control across one day's p-value columns.

A model with 40 features tested at 5 % flags about two columns a day on pure noise. Evidently does
not correct for that, so the correction is off by default (parity with Evidently's numbers); a
model turns it on with `drift: {multiple_testing: benjamini_hochberg}` in its YAML.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perf_pipeline.config import DriftSettings

BENJAMINI_HOCHBERG = "benjamini_hochberg"


def correction_of(drift_settings: DriftSettings) -> str | None:
    """The configured correction, or None when it is off.

    The models file accepts exactly these values (`DriftSettings.multiple_testing`); this check
    repeats it for settings built without validation (`model_copy(update=...)`), so an unknown
    name fails before any day is computed instead of silently meaning "no correction".
    """
    value = drift_settings.multiple_testing
    if value is None or value == BENJAMINI_HOCHBERG:
        return value
    raise ValueError(
        f"drift.multiple_testing {value!r} is unknown; use {BENJAMINI_HOCHBERG!r} or leave it out"
    )


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, in input order.

    Same arithmetic as `statsmodels.stats.multitest.multipletests(method='fdr_bh')`: p-values
    sorted ascending are scaled by m / rank, made monotone from the largest down, capped at 1.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] / (np.arange(1, m + 1) / m)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(monotone, 1.0)
    return adjusted
