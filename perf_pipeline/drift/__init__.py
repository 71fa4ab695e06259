"""Data and prediction drift against a model's reference (DESIGN §5)."""

from perf_pipeline.drift.compute import (
    DATASET_COLUMN,
    OUTPUT_COLUMNS,
    ReferenceProfile,
    build_reference_profile,
    compute_drift,
    drift_columns,
)
from perf_pipeline.drift.methods import DEFAULT_THRESHOLDS, METHODS, ColumnSample, run_test

__all__ = [
    "DATASET_COLUMN",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "OUTPUT_COLUMNS",
    "ColumnSample",
    "ReferenceProfile",
    "build_reference_profile",
    "compute_drift",
    "drift_columns",
    "run_test",
]
