"""The expectation suite of a model, generated from its config and its reference data, plus the
expectations the models file adds under `quality.expectations`.

Kept as plain specs (not Great Expectations objects) so the suite can be built, read and tested
without importing Great Expectations, which is slow to import and only needed when validating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perf_pipeline.config import ModelConfig, Task, canonical_class_text

ERROR = "error"
WARNING = "warning"
# The keyword arguments through which Great Expectations expectations name their columns.
COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


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

    @property
    def columns(self) -> list[str]:
        """Every column the expectation reads (multi-column expectations name several)."""
        named = [self.kwargs.get(k) for k in COLUMN_KWARGS if k != "column_list"]
        listed = self.kwargs.get("column_list")
        named += listed if isinstance(listed, list) else []
        return [c for c in named if isinstance(c, str)]


@dataclass(frozen=True)
class ReferenceStats:
    """What the suite needs to know about the reference data, column by column."""

    rows: int
    null_rate: dict[str, float] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)
    maximum: dict[str, float] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)


# Checks the gate makes itself from the ingest log, beside the Great Expectations suite:
# (name, default severity, column).
GATE_EXPECTATIONS: list[tuple[str, str, str | None]] = [
    ("files_readable", ERROR, None),
    ("rows_accounted_for", ERROR, None),
    ("quarantine_share", WARNING, None),
    ("row_count_within_trailing_band", WARNING, None),
]

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
    """The generated suite and the models file's own expectations, overrides applied."""
    specs = [*_generated_suite(model, reference), *custom_specs(model)]
    return _apply_overrides(model, specs)


def custom_specs(model: ModelConfig) -> list[ExpectationSpec]:
    """The models file's `quality.expectations`, as specs like the generated ones."""
    return [
        ExpectationSpec(entry.expectation, entry.kwargs, entry.severity, name)
        for entry, name in zip(
            model.quality.expectations, model.quality.custom_names(), strict=True
        )
    ]


def expectation_catalogue(model: ModelConfig) -> list[tuple[str, str, str | None]]:
    """(name, default severity, column) of every expectation the gate can evaluate for this
    model, whatever its reference holds, before the models file's severity overrides."""
    every_column = ReferenceStats(
        rows=1,
        minimum=dict.fromkeys(model.features.numerical, 0.0),
        maximum=dict.fromkeys(model.features.numerical, 1.0),
        categories={c: ["_"] for c in model.features.categorical},
    )
    specs = [*_generated_suite(model, every_column), *custom_specs(model)]
    return [*GATE_EXPECTATIONS, *((s.name, s.severity, s.column) for s in specs)]


def _generated_suite(model: ModelConfig, reference: ReferenceStats | None) -> list[ExpectationSpec]:
    specs = _output_specs(model)
    return specs if reference is None else specs + _reference_specs(model, reference)


def _output_specs(model: ModelConfig) -> list[ExpectationSpec]:
    """What every day must satisfy whatever the reference: logs, ids, scores, classes."""
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
    for col in model.score_columns:
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
    allowed = (
        _binary_classes(model)
        if model.task is Task.BINARY_CLASSIFICATION
        else [canonical_class_text(c) for c in model.classes]
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
    return specs


def _reference_specs(model: ModelConfig, reference: ReferenceStats) -> list[ExpectationSpec]:
    """Input columns against the reference: null rates, numeric ranges, known categories."""
    specs = []
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
    """Both classes as the ingest stores them; none when a model built in code names only a
    positive class that is not 0/1 (the models file always names both then)."""
    try:
        return sorted(model.binary_classes)
    except ValueError:
        return []
