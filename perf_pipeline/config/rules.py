"""The rules that tie a model's settings together, each problem with its key path.

Pydantic has checked every field by the time these run; here the file is checked against the
code it drives: threshold names against the metric registry, drift settings against the drift
methods and columns, severity overrides against the generated suite, column names against the
pipeline's own columns. Every rule reports all it finds, so one message lists every problem.

Segments and protected attributes may be logged columns that are not features: fairness
attributes are often deliberately kept out of a model's inputs. Only their names are checked.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable

from perf_pipeline.config import choices
from perf_pipeline.config.model import (
    MetricThreshold,
    ModelConfig,
    Task,
    canonical_class_text,
)
from perf_pipeline.config.yaml_source import Problem


def model_problems(model: ModelConfig) -> list[Problem]:
    """Every problem of one model's entry; locations are relative to the entry."""
    return [
        *_task_problems(model),
        *_class_problems(model),
        *_column_problems(model),
        *_threshold_problems(model),
        *_drift_problems(model),
        *_quality_problems(model),
    ]


def model_warnings(model: ModelConfig, today: dt.date) -> list[Problem]:
    """Settings that load but probably do not do what was meant."""
    if model.start_date > today:
        return [
            Problem(
                ("start_date",),
                f"{model.start_date} is in the future: the model has no daily partition "
                "(and its schedule does nothing) until then",
            )
        ]
    return []


def one_of(valid: Iterable[str], given: str) -> str:
    """`valid: a, b, c`, led by the closest names to the one given."""
    valid = list(valid)
    close = difflib.get_close_matches(given, valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}valid: {', '.join(valid) or '(none)'}"


def _task_problems(model: ModelConfig) -> list[Problem]:
    problems = []
    if model.task is Task.MULTICLASS_CLASSIFICATION and len(model.classes) < 3:
        problems.append(
            Problem(("classes",), "multiclass_classification needs at least three 'classes'")
        )
    if model.task is Task.RANKING and not model.k:
        problems.append(Problem(("k",), "ranking needs 'k' (a cutoff like 10, or [5, 10])"))
    return problems


def _class_problems(model: ModelConfig) -> list[Problem]:
    classes = [canonical_class_text(c) for c in model.classes]
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    problems = [Problem(("classes",), f"classes listed twice: {repeated}")] if repeated else []
    if model.task is not Task.BINARY_CLASSIFICATION:
        return problems
    positive = canonical_class_text(model.positive_class)
    if not classes and positive not in ("0", "1"):
        problems.append(
            Problem(
                ("positive_class",),
                f"positive_class {model.positive_class!r} is not 0 or 1, so the negative class "
                f"is unknown: add classes: [<negative>, {model.positive_class}]",
            )
        )
    elif classes and len(classes) != 2:
        problems.append(
            Problem(("classes",), f"a binary model has exactly 2 classes, not {len(classes)}")
        )
    elif classes and positive not in classes:
        problems.append(
            Problem(
                ("positive_class",),
                f"positive_class {model.positive_class!r} is not one of classes {classes}",
            )
        )
    return problems


def _named_columns(model: ModelConfig) -> list[tuple[tuple[str | int, ...], str]]:
    return [
        *((("features", "numerical", i), c) for i, c in enumerate(model.features.numerical)),
        *((("features", "categorical", i), c) for i, c in enumerate(model.features.categorical)),
        *((("segments", i), c) for i, c in enumerate(model.segments)),
        *((("protected_attributes", i), c) for i, c in enumerate(model.protected_attributes)),
    ]


def _column_problems(model: ModelConfig) -> list[Problem]:
    problems = []
    for loc, column in _named_columns(model):
        reason = choices.reserved_column_reason(column) if column else "a column needs a name"
        if reason:
            problems.append(Problem(loc, f"{reason}; rename the column in the logs"))
    seen: dict[str, tuple[tuple[str | int, ...], str]] = {}
    for loc, column in _named_columns(model):
        if loc[0] != "features":
            continue
        first_loc, first = seen.setdefault(column.lower(), (loc, column))
        if first_loc == loc:
            continue
        if first != column:
            message = f"differs from feature {first!r} only in case (DuckDB ignores case)"
        elif first_loc[1] != loc[1]:
            message = f"feature {column!r} is both numerical and categorical"
        else:
            message = f"feature {column!r} is listed twice"
        problems.append(Problem(loc, message))
    return problems


def _threshold_problems(model: ModelConfig) -> list[Problem]:
    valid = choices.threshold_names(model)
    problems = []
    for metric, bounds in model.thresholds.items():
        loc = ("thresholds", metric)
        if metric not in valid:
            problems.append(
                Problem(loc, f"unknown metric for {model.task.value}; {one_of(valid, metric)}")
            )
        if bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
            problems.append(Problem(loc, f"min {bounds.min} is above max {bounds.max}"))
        if metric != choices.DRIFT_SHARE and metric in valid:
            problems += _evidence_problems(model, metric, bounds)
    return [*problems, *_drift_share_problems(model)]


def _evidence_problems(model: ModelConfig, metric: str, bounds: MetricThreshold) -> list[Problem]:
    """The alerting settings of a metric's threshold that cannot work as written."""
    loc = ("thresholds", metric)
    problems = []
    if all(b is None for b in (bounds.min, bounds.max, bounds.max_drop, bounds.band)):
        problems.append(
            Problem(loc, "sets no bound: give at least one of min, max, max_drop or band")
        )
    band = bounds.band
    if band is not None and band.baseline == "reference" and model.reference.source != "file":
        problems.append(
            Problem(
                (*loc, "band", "baseline"),
                "'reference' needs a reference file (reference.source: file); this model's "
                "reference is a trailing window, so use baseline: trailing",
            )
        )
    if bounds.require_ci and metric not in _metrics_with_interval(model):
        problems.append(
            Problem(
                (*loc, "require_ci"),
                f"{metric!r} has no confidence interval (ci_low/ci_high are NULL), so its "
                "alerts could never clear it; remove require_ci or pick a metric with one: "
                + ", ".join(sorted(_metrics_with_interval(model))),
            )
        )
    return problems


def _metrics_with_interval(model: ModelConfig) -> set[str]:
    """The metrics whose realized rows carry an interval: proportions (Wilson) and those with
    a standard error in the registry."""
    from perf_pipeline.metrics.registry import METRICS, Context

    ctx = Context(cutoffs=tuple(model.k), classes=tuple(str(c) for c in model.classes))
    return {
        concrete.name
        for entry in METRICS.get(model.task, ())
        for concrete in entry.concrete(ctx)
        if concrete.kind == "proportion" or concrete.se_sql is not None
    }


def _drift_share_problems(model: ModelConfig) -> list[Problem]:
    bounds = model.thresholds.get(choices.DRIFT_SHARE)
    if bounds is None:
        return []
    loc = ("thresholds", choices.DRIFT_SHARE)
    problems = []
    if bounds.min is not None or bounds.max_drop is not None:
        problems.append(Problem(loc, "only 'max' applies to drift_share (a share of columns)"))
    if bounds.band is not None or bounds.require_ci:
        problems.append(
            Problem(
                loc,
                "band and require_ci do not apply to drift_share (the share has neither a "
                "baseline nor an interval); persist_days and severity do",
            )
        )
    if bounds.max is not None and not 0 < bounds.max <= 1:
        problems.append(Problem((*loc, "max"), f"{bounds.max} is not a share in (0, 1]"))
    elif bounds.max is not None and bounds.max != model.drift.share_threshold:
        problems.append(
            Problem(
                (*loc, "max"),
                f"{bounds.max} differs from drift.share_threshold "
                f"{model.drift.share_threshold}: they are one setting (the dataset drifts, and "
                "alerts, when the share is >= it); keep one of them",
            )
        )
    return problems


def _drift_problems(model: ModelConfig) -> list[Problem]:
    methods, numerical_only = choices.drift_methods()
    columns = choices.drift_columns(model)
    problems = [
        Problem(("drift", setting, column), f"not a drifted column; {one_of(columns, column)}")
        for setting in ("methods", "thresholds")
        for column in getattr(model.drift, setting)
        if column not in columns
    ]
    for column, value in model.drift.thresholds.items():
        if value <= 0:
            problems.append(
                Problem(("drift", "thresholds", column), f"must be positive, not {value}")
            )
    for column, method in model.drift.methods.items():
        loc = ("drift", "methods", column)
        if method not in methods:
            problems.append(
                Problem(loc, f"unknown drift method {method!r}; {one_of(methods, method)}")
            )
        elif method in numerical_only and columns.get(column) == "categorical":
            problems.append(
                Problem(loc, f"{method!r} needs a numerical column; {column!r} is categorical")
            )
    return problems


def _quality_problems(model: ModelConfig) -> list[Problem]:
    names = choices.expectation_names(model)
    fixed = choices.fixed_expectations()
    adjustable = [n for n in names if n not in fixed]
    problems = []
    for name in model.quality.severity:
        loc = ("quality", "severity", name)
        if name in fixed:
            problems.append(Problem(loc, "a structural check; its severity cannot be changed"))
        elif name not in names:
            problems.append(Problem(loc, f"no such expectation; {one_of(adjustable, name)}"))
    return [*problems, *_custom_expectation_problems(model, names)]


def _custom_expectation_problems(model: ModelConfig, names: list[str]) -> list[Problem]:
    if not model.quality.expectations:
        # Nothing to check; the logged columns come from the ingest, whose Arrow readers a
        # models file without custom expectations should not make the code location load.
        return []
    generated = names[: len(names) - len(model.quality.expectations)]
    columns = choices.logged_columns(model)
    problems = []
    custom = model.quality.custom_names()
    for index, (entry, name) in enumerate(zip(model.quality.expectations, custom, strict=True)):
        loc: tuple[str | int, ...] = ("quality", "expectations", index)
        if name in generated or custom.index(name) != index:
            problems.append(
                Problem((*loc, "name"), f"{name!r} already names another expectation; rename it")
            )
        for key in sorted(set(entry.kwargs) & {"meta"}):
            problems.append(Problem((*loc, key), "set by the pipeline; leave it out"))
        for key, column in _column_kwargs(entry.kwargs):
            if column not in columns:
                problems.append(
                    Problem(
                        (*loc, key),
                        f"{column!r} is not a logged column; {one_of(columns, str(column))}",
                    )
                )
    return problems


def _column_kwargs(kwargs: dict[str, object]) -> list[tuple[str, object]]:
    found = [(k, kwargs[k]) for k in ("column", "column_A", "column_B") if k in kwargs]
    listed = kwargs.get("column_list")
    if isinstance(listed, list):
        found += [("column_list", c) for c in listed]
    return found
