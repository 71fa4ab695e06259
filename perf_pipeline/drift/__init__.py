"""Data and prediction drift against a model's reference (DESIGN §5).

The names below are loaded on first use (PEP 562), so `perf_pipeline.drift.registry` can be
imported by the config module without pulling in the table code, which itself needs the config.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "DATASET_COLUMN": "compute",
    "OUTPUT_COLUMNS": "compute",
    "ReferenceProfile": "compute",
    "build_reference_profile": "compute",
    "compute_drift": "compute",
    "drift_columns": "compute",
    "ColumnSample": "kernels",
    "run_test": "methods",
    "DRIFT_METHODS": "registry",
    "DriftMethod": "registry",
    "method_names": "registry",
    "BENJAMINI_HOCHBERG": "multiple_testing",
    "benjamini_hochberg": "multiple_testing",
    "SqlReferenceProfile": "sql",
    "build_reference_profile_sql": "sql",
    "compute_drift_sql": "sql",
    "drop_reference_profile": "sql",
    "reference_profile_sql": "sql",
}

__all__ = [
    "BENJAMINI_HOCHBERG",
    "DATASET_COLUMN",
    "DRIFT_METHODS",
    "METHODS",
    "OUTPUT_COLUMNS",
    "ColumnSample",
    "DriftMethod",
    "ReferenceProfile",
    "SqlReferenceProfile",
    "benjamini_hochberg",
    "build_reference_profile",
    "build_reference_profile_sql",
    "compute_drift",
    "compute_drift_sql",
    "drift_columns",
    "drop_reference_profile",
    "method_names",
    "reference_profile_sql",
    "run_test",
]

if TYPE_CHECKING:
    from perf_pipeline.drift.compute import (
        DATASET_COLUMN,
        OUTPUT_COLUMNS,
        ReferenceProfile,
        build_reference_profile,
        compute_drift,
        drift_columns,
    )
    from perf_pipeline.drift.kernels import ColumnSample
    from perf_pipeline.drift.methods import run_test
    from perf_pipeline.drift.multiple_testing import BENJAMINI_HOCHBERG, benjamini_hochberg
    from perf_pipeline.drift.registry import DRIFT_METHODS, DriftMethod, method_names
    from perf_pipeline.drift.sql import (
        SqlReferenceProfile,
        build_reference_profile_sql,
        compute_drift_sql,
        drop_reference_profile,
        reference_profile_sql,
    )


def __getattr__(name: str) -> object:
    if name == "METHODS":
        # Read afresh on every access: the registry's names as they are now, entries added
        # since import included (what `drift.methods` in models.yaml may name).
        from perf_pipeline.drift.registry import method_names

        return method_names()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
