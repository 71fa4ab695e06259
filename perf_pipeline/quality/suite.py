"""The expectation suite of a model, generated from its config and its reference data.

Kept as plain specs (not Great Expectations objects) so the suite can be built, read and tested
without importing Great Expectations, which is slow to import and only needed when validating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.ingest.predictions import score_columns

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: the Great Expectations class name, its arguments and our severity."""

    gx_type: str
    kwargs: dict[str, Any]
    severity: str
    name: str

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


@dataclass(frozen=True)
class ReferenceStats:
    """What the suite needs to know about the reference data, column by column."""

    rows: int
    null_rate: dict[str, float] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)
    maximum: dict[str, float] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)


SCORE_SUM_COLUMN = "__score_sum"
SCORE_SUM_TOLERANCE = 1e-3
# Structural checks: without them the rest means nothing, so a models file cannot relax them.
FIXED_SEVERITY = frozenset({"files_readable", "rows_accounted_for"})


def effective_severity(model: ModelConfig, name: str, default: str) -> str | None:
    """The severity after the models file's overrides; None when the expectation is off."""
    if name in FIXED_SEVERITY:
        return default
    chosen = model.quality.severity.get(name, default)
    return None if chosen == "off" else chosen


def _apply_overrides(model: ModelConfig, specs: list[ExpectationSpec]) -> list[ExpectationSpec]:
    kept = []
    for spec in specs:
        severity = effective_severity(model, spec.name, spec.severity)
        if severity is not None:
            kept.append(ExpectationSpec(spec.gx_type, spec.kwargs, severity, spec.name))
    return kept


def build_suite(model: ModelConfig, reference: ReferenceStats | None) -> list[ExpectationSpec]:
    """The generated suite with the models file's overrides applied."""
    return _apply_overrides(model, _generated_suite(model, reference))


def _generated_suite(model: ModelConfig, reference: ReferenceStats | None) -> list[ExpectationSpec]:
    specs = [
        ExpectationSpec("ExpectTableRowCountToBeBetween", {"min_value": 1}, ERROR, "logs_present"),
        ExpectationSpec(
            "ExpectColumnValuesToNotBeNull",
            {"column": "prediction_id"},
            ERROR,
            "prediction_id_not_null",
        ),
        ExpectationSpec(
            "ExpectColumnValuesToBeUnique",
            {"column": "prediction_id"},
            ERROR,
            "prediction_id_unique",
        ),
    ]
    for col in score_columns(model):
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToBeBetween",
                {"column": col, "min_value": 0.0, "max_value": 1.0},
                ERROR,
                f"{col}_is_probability",
            )
        )
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToBeBetween",
                {
                    "column": SCORE_SUM_COLUMN,
                    "min_value": 1 - SCORE_SUM_TOLERANCE,
                    "max_value": 1 + SCORE_SUM_TOLERANCE,
                    "mostly": 0.99,
                },
                ERROR,
                "class_scores_sum_to_one",
            )
        )
    allowed = [str(c) for c in model.classes] or (
        _binary_classes(model) if model.task is Task.BINARY_CLASSIFICATION else []
    )
    if allowed:
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToBeInSet",
                {"column": "prediction", "value_set": allowed},
                ERROR,
                "prediction_in_classes",
            )
        )
    if reference is None:
        return specs
    for col in model.input_columns:
        ref_null = reference.null_rate.get(col, 0.0)
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToNotBeNull",
                {
                    "column": col,
                    "mostly": max(0.0, 1.0 - ref_null - model.quality.null_rate_tolerance),
                },
                ERROR,
                f"{col}_null_rate",
            )
        )
    for col in model.features.numerical:
        if col in reference.minimum:
            specs.append(
                ExpectationSpec(
                    "ExpectColumnValuesToBeBetween",
                    {
                        "column": col,
                        "min_value": reference.minimum[col],
                        "max_value": reference.maximum[col],
                        "mostly": model.quality.range_mostly,
                    },
                    WARNING,
                    f"{col}_in_reference_range",
                )
            )
    for col in model.features.categorical:
        if reference.categories.get(col):
            specs.append(
                ExpectationSpec(
                    "ExpectColumnValuesToBeInSet",
                    {
                        "column": col,
                        "value_set": reference.categories[col],
                        "mostly": model.quality.category_mostly,
                    },
                    WARNING,
                    f"{col}_in_reference_categories",
                )
            )
    return specs


def _binary_classes(model: ModelConfig) -> list[str]:
    positive = str(model.positive_class)
    if positive in ("1", "0"):
        return ["0", "1"]
    if positive.lower() in ("true", "false"):
        return ["true", "false"]
    # A named positive class: the negative class is whatever else the model logs.
    return []
