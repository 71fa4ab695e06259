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
from perf_pipeline.drift.multiple_testing import BENJAMINI_HOCHBERG, benjamini_hochberg
from perf_pipeline.drift.sql import (
    SqlReferenceProfile,
    build_reference_profile_sql,
    compute_drift_sql,
    drop_reference_profile,
    reference_profile_sql,
)

__all__ = [
    "BENJAMINI_HOCHBERG",
    "DATASET_COLUMN",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "OUTPUT_COLUMNS",
    "ColumnSample",
    "ReferenceProfile",
    "SqlReferenceProfile",
    "benjamini_hochberg",
    "build_reference_profile",
    "build_reference_profile_sql",
    "compute_drift",
    "compute_drift_sql",
    "drift_columns",
    "drop_reference_profile",
    "reference_profile_sql",
    "run_test",
]
