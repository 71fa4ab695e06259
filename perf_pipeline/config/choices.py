"""The closed sets a models file is checked against, read from the code that defines them.

Metric names come from the metric registry, drift methods from `perf_pipeline.drift`, expectation
names from the generated suite: adding a metric, a method or an expectation there makes it valid
here without touching the config. Those modules import this package, so they are imported inside
the functions (by the time a file is validated they are loaded anyway).
"""

from __future__ import annotations

from perf_pipeline.config.model import ModelConfig, Task

# `thresholds.drift_share` bounds the share of drifted columns, not a metric.
DRIFT_SHARE = "drift_share"

# Columns the pipeline writes or reads itself: a feature, segment or protected attribute of the
# same name would be overwritten by, or mistaken for, one of them. DuckDB compares identifiers
# without case, so neither may `Label` or `DATE`.
PIPELINE_COLUMNS = frozenset(
    {
        "model_id",
        "date",
        "prediction_id",
        "timestamp",
        "model_version",
        "prediction",
        "score",
        "source_file",
        "label",
        "label_timestamp",
        "prediction_date",
        "arrival_date",
    }
)
INTERNAL_PREFIX = "__"
SCORE_PREFIX = "score_"


def reserved_column_reason(name: str) -> str | None:
    """Why `name` cannot be a model's column, or None when it can."""
    lowered = name.lower()
    if lowered in PIPELINE_COLUMNS:
        return f"{name!r} is a column of the pipeline itself (reserved: {_pipeline_columns()})"
    if lowered.startswith(SCORE_PREFIX):
        return f"{name!r} looks like a class score column (`score_<class>` is reserved)"
    if name.startswith(INTERNAL_PREFIX):
        return f"{name!r} starts with '__', which is reserved for internal columns"
    return None


def _pipeline_columns() -> str:
    return ", ".join(sorted(PIPELINE_COLUMNS)) + ", score_<class>, __*"


def threshold_names(model: ModelConfig) -> list[str]:
    """Every metric the model computes, as the registry names it for this model (ranking names
    carry the model's cutoffs, per-class names its classes; fairness metrics exist only with
    protected attributes), plus `drift_share`."""
    from perf_pipeline.metrics.registry import METRICS, Context

    ctx = Context(cutoffs=tuple(model.k), classes=tuple(str(c) for c in model.classes))
    names = [
        concrete.name
        for entry in METRICS.get(model.task, ())
        if entry.across_groups is None or model.protected_attributes
        for concrete in entry.concrete(ctx)
    ]
    return [*dict.fromkeys(names), DRIFT_SHARE]


def drift_methods() -> tuple[list[str], set[str]]:
    """(every drift method name, the ones that need a numerical column), read live from the
    drift registry so a method added there is accepted here at once."""
    from perf_pipeline.drift.registry import method_names, numerical_only_method_names

    return sorted(method_names()), set(numerical_only_method_names())


def drift_columns(model: ModelConfig) -> dict[str, str]:
    """The columns drift is measured on, with their kind: the features, then the prediction
    (not for ranking, whose prediction is a list) and a binary classifier's score."""
    columns = dict.fromkeys(model.features.numerical, "numerical")
    columns.update(dict.fromkeys(model.features.categorical, "categorical"))
    if model.task is not Task.RANKING:
        columns["prediction"] = "categorical" if model.is_classifier else "numerical"
    if model.task is Task.BINARY_CLASSIFICATION:
        columns["score"] = "numerical"
    return columns


def expectation_names(model: ModelConfig) -> list[str]:
    """Every expectation name of the model's suite, the gate's own and the custom ones."""
    from perf_pipeline.quality.suite import expectation_catalogue

    return [name for name, _, _ in expectation_catalogue(model)]


def fixed_expectations() -> frozenset[str]:
    from perf_pipeline.quality.suite import FIXED_SEVERITY

    return FIXED_SEVERITY


def logged_columns(model: ModelConfig) -> list[str]:
    """The columns a custom expectation can read: those the ingest keeps for the model."""
    from perf_pipeline.ingest.predictions import known_columns

    return known_columns(model)
