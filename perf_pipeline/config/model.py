"""The models file (`<data root>/models.yaml`): the one place a user declares what to monitor.

Parsed with pydantic so that a typo in a user's YAML fails with the model id, the field and the
problem, instead of surfacing later as a KeyError deep inside an asset.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class Task(StrEnum):
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"
    RANKING = "ranking"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Features(_Strict):
    numerical: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.numerical, *self.categorical]


class Reference(_Strict):
    source: Literal["file", "trailing"] = "file"
    days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _trailing_needs_days(self) -> Reference:
        if self.source == "trailing" and self.days is None:
            raise ValueError("reference.source 'trailing' needs 'days'")
        return self


class MetricThreshold(_Strict):
    """Bounds for one metric. `max_drop` is the largest tolerated worsening against the
    reference value, measured in the metric's bad direction (a fall for roc_auc, a rise for mae).
    """

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)


class DriftSettings(_Strict):
    """Overrides of the default drift method selection (DESIGN §5)."""

    share_threshold: float = Field(default=0.5, gt=0, le=1)
    methods: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    # Many columns are tested each day; off by default so the numbers match Evidently's.
    multiple_testing: Literal["benjamini_hochberg"] | None = None


Severity = Literal["error", "warning", "off"]


class QualitySettings(_Strict):
    """Overrides of the generated data-quality suite (the defaults suit most models).

    `severity` maps an expectation name (as shown on its Dagster check) to `error` (blocks the
    day), `warning` (recorded only) or `off` (not run).
    """

    null_rate_tolerance: float = Field(default=0.05, ge=0, le=1)
    range_mostly: float = Field(default=0.95, gt=0, le=1)
    category_mostly: float = Field(default=0.95, gt=0, le=1)
    quarantine_share_max: float = Field(default=0.01, ge=0, le=1)
    volume_tolerance: float = Field(default=0.5, gt=0)
    volume_window_days: int = Field(default=7, ge=1)
    duplicate_window_days: int = Field(
        default=7,
        ge=0,
        description="An id already accepted this many days before is a duplicate too.",
    )
    severity: dict[str, Severity] = Field(default_factory=dict)


class ModelConfig(_Strict):
    model_id: str
    task: Task
    positive_class: str | int | None = 1
    decision_threshold: float = Field(default=0.5, ge=0, le=1)
    predicted_class: Literal["logged", "threshold"] = Field(
        default="logged",
        description="Binary classifiers: where the predicted class comes from. `logged` takes "
        "the `prediction` the system acted on and falls back to `score >= decision_threshold` "
        "only where the log has none; `threshold` always applies the threshold to the score.",
    )
    classes: list[str | int] = Field(default_factory=list)
    # Ranking cutoffs, sorted: `k: 10` in the file is (10,), `k: [20, 5]` is (5, 20).
    k: tuple[int, ...] = ()
    features: Features = Field(default_factory=Features)
    segments: list[str] = Field(default_factory=list)
    protected_attributes: list[str] = Field(default_factory=list)
    label_delay_days: int = Field(default=14, ge=0)
    start_date: dt.date
    reference: Reference = Field(default_factory=Reference)
    thresholds: dict[str, MetricThreshold] = Field(default_factory=dict)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    min_labelled_rows: int = Field(
        default=100,
        ge=1,
        description="Below this many labelled rows a day's realized metrics are reported but "
        "never alerted on: too few labels say nothing about the model.",
    )
    quality: QualitySettings = Field(default_factory=QualitySettings)

    @field_validator("model_id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        # The id becomes a folder name and an asset key: refuse anything that could escape a path.
        if not MODEL_ID_PATTERN.match(value):
            raise ValueError(
                f"model id {value!r} must be letters, digits, '_' or '-' (it names folders)"
            )
        return value

    @field_validator("k", mode="before")
    @classmethod
    def _cutoffs(cls, value: object) -> tuple[int, ...]:
        """`k: 10` stays the short form users already write; `k: [5, 10, 20]` asks for several
        cutoffs. Sorted, so the metrics come out in cutoff order whatever the file's order."""
        if value is None:
            return ()
        cutoffs = list(value) if isinstance(value, list | tuple) else [value]
        if not cutoffs:
            raise ValueError("'k' needs at least one cutoff")
        # bool is an int to Python, but `k: true` is a typo, not a cutoff of 1.
        bad = [c for c in cutoffs if isinstance(c, bool) or not isinstance(c, int) or c < 1]
        if bad:
            raise ValueError(f"'k' cutoffs must be positive integers, not {bad}")
        # Two equal cutoffs would name two metrics alike.
        repeated = sorted({c for c in cutoffs if cutoffs.count(c) > 1})
        if repeated:
            raise ValueError(f"'k' lists cutoffs more than once: {repeated}")
        return tuple(sorted(cutoffs))

    @model_validator(mode="after")
    def _task_specific(self) -> ModelConfig:
        if self.task in (Task.MULTICLASS_CLASSIFICATION,) and len(self.classes) < 3:
            raise ValueError("multiclass_classification needs at least three 'classes'")
        if self.task is Task.RANKING and not self.k:
            raise ValueError("ranking needs 'k'")
        overlap = set(self.features.numerical) & set(self.features.categorical)
        if overlap:
            raise ValueError(f"features both numerical and categorical: {sorted(overlap)}")
        return self

    @property
    def is_classifier(self) -> bool:
        return self.task in (Task.BINARY_CLASSIFICATION, Task.MULTICLASS_CLASSIFICATION)

    @property
    def binary_classes(self) -> tuple[str, str]:
        """(negative, positive) class of a binary classifier, as canonical text.

        `classes` names both when given; otherwise the positive class must be 0/1-like and the
        negative class is the other one, so a label `2`, `yes` or `-1` is never read as negative.
        """
        positive = canonical_class_text(self.positive_class)
        if len(self.classes) == 2:
            first, second = (canonical_class_text(c) for c in self.classes)
            return (second, first) if first == positive else (first, second)
        negative = {"1": "0", "0": "1"}.get(positive)
        if negative is None:
            raise ValueError(
                f"model {self.model_id!r}: positive_class {self.positive_class!r} is not 0 or 1, "
                "so 'classes' must list both classes"
            )
        return negative, positive

    @property
    def input_columns(self) -> list[str]:
        """Every column a prediction log must carry for this model (beyond the fixed ones)."""
        columns = list(self.features.all)
        for column in [*self.segments, *self.protected_attributes]:
            if column not in columns:
                columns.append(column)
        return columns


def canonical_class_text(value: object) -> str:
    """A class as the ingest stores it: numbers written one way (`1`, `1.0`, `"1"` are `'1'`).

    Mirrors `perf_pipeline.ingest.rules.canonical_class`, the SQL form of the same rule.
    """
    text = str(value).strip()
    if isinstance(value, bool):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if number == number and abs(number) < 1e15 and number == round(number):
        return str(int(number))
    return text


class ModelsFileError(ValueError):
    """The models file is missing or invalid; the message names the file and the problem."""


def load_models(path: Path) -> dict[str, ModelConfig]:
    """Read and validate the models file; the returned dict keeps the file's order."""
    if not path.exists():
        raise ModelsFileError(f"{path}: models file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ModelsFileError(f"{path}: not valid YAML: {exc}") from exc
    models = raw.get("models") if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        raise ModelsFileError(f"{path}: expected a top-level 'models:' mapping of model ids")
    parsed: dict[str, ModelConfig] = {}
    for model_id, body in models.items():
        try:
            parsed[str(model_id)] = ModelConfig(model_id=str(model_id), **(body or {}))
        except (ValidationError, TypeError) as exc:
            raise ModelsFileError(f"{path}: model {model_id!r}: {exc}") from exc
    return parsed
