"""The shape of one model's entry in the models file, as frozen pydantic models.

Pydantic checks each field (types, bounds, unknown keys); the rules that tie fields together
(threshold names against the metric registry, drift columns, reserved column names, ...) live in
`perf_pipeline.config.rules` and run when the file is loaded, so that one message can list every
problem of the file instead of the first one pydantic meets.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from perf_pipeline.config.alert_lifecycle import AlertLifecycleSettings
from perf_pipeline.config.catalog import Owners, Tags
from perf_pipeline.config.gate import GateSettings
from perf_pipeline.config.review import ReviewSettings

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
# Validation context key: `load_models` runs the whole-file rules itself, so it can report every
# problem with its key path; the model validator then skips its own, shorter checks.
FILE_RULES = "file_rules"


class Task(StrEnum):
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"
    RANKING = "ranking"


_BOOLEAN_VALUE = (
    "YAML read this as a boolean (yes/no/on/off/true/false are booleans to YAML); quote it"
)


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


class Band(_Strict):
    """A statistical band: where the metric normally lies, mean ± `sigma` standard deviations.

    `reference`: the metric over chunks of the reference as large as the judged day
    (`perf_pipeline.alerts.bands`); `trailing`: the final realized values of the `days` days
    before (only the same weekday as the judged day with `same_weekday`). The band alerts on
    the metric's bad side only (below it for roc_auc, above it for mae).
    """

    sigma: float = Field(default=3.0, gt=0, description="Half-width in standard deviations.")
    baseline: Literal["reference", "trailing"] = "reference"
    days: int = Field(
        default=28,
        ge=3,
        le=366,
        description="Trailing baseline: how many days (or, with same_weekday, weeks) back.",
    )
    same_weekday: bool = Field(
        default=False, description="Trailing baseline: only days on the judged day's weekday."
    )


class MetricThreshold(_Strict):
    """Bounds for one metric. `max_drop` is the largest tolerated worsening against the
    reference value, measured in the metric's bad direction (a fall for roc_auc, a rise for mae).

    `band`, `require_ci`, `persist_days` and `severity` decide when a breach is worth an alert
    (`perf_pipeline.alerts.regressions`).
    """

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    band: Band | None = None
    require_ci: bool = Field(
        default=False,
        description="Alert only when the metric's 95 % interval (ci_low, ci_high) lies wholly "
        "past the bound it breaks; a metric row without an interval then never alerts.",
    )
    persist_days: int = Field(
        default=1,
        ge=1,
        le=90,
        description="Alert only when the bound was broken on this many consecutive days "
        "(the judged day and the ones before it); a day with nothing to judge breaks the run.",
    )
    severity: Literal["warning", "critical"] | None = Field(
        default=None,
        description="Severity of this threshold's alerts; default critical for realized "
        "performance, warning for estimated performance and drift.",
    )


class DriftSettings(_Strict):
    """Overrides of the default drift method selection (DESIGN §5)."""

    share_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="The dataset drifts on a day when the share of drifted columns is >= this; "
        "a `drift` alert fires exactly on those days. `thresholds.drift_share.max` in the models "
        "file is the same setting: when given, it sets this (both given and different is an "
        "error).",
    )
    methods: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    # Many columns are tested each day; off by default so the numbers match Evidently's.
    multiple_testing: Literal["benjamini_hochberg"] | None = None
    min_psi: float | None = Field(
        default=None,
        gt=0,
        description="Effect-size floor for drift alerts: a column counts towards the alert's "
        "share of drifted columns only when the drift table calls it drifted (its own method's "
        "p-value or distance) and its `psi` is >= this. The table itself is unchanged.",
    )


class LabelSettings(_Strict):
    """When a day's realized numbers can be trusted, and whether to alert before then.

    A day's realized metrics are provisional while labels are still arriving: they move as
    labels land, and an early majority of easy cases can make a model look better or worse than
    it is. A day is final once its label coverage reaches `final_coverage` or its
    `label_delay_days` have passed (`perf_pipeline.performance_status`).
    """

    final_coverage: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="A day's realized metrics are final once this share of its predictions "
        "is labelled (or once `label_delay_days` have passed, whichever comes first).",
    )
    alert_on_provisional: bool = Field(
        default=False,
        description="Raise `performance` alerts on provisional days too; by default they are "
        "held back until the day is final (estimated alerts flag a decay before then).",
    )


class EstimationSettings(_Strict):
    """When to warn that the estimator no longer matches the realized numbers.

    Once a day is final, its estimate and realized value give an estimation error (the
    `estimation_quality` table). Over the last `window_days` final days, an estimator whose
    assumptions hold puts the realized value inside its 95 % interval on about 95 % of them; an
    `estimator_quality` alert says the calibration no longer holds
    (`perf_pipeline.alerts.estimator_quality` has the exact rule).
    """

    window_days: int = Field(
        default=14,
        ge=2,
        description="How many of the latest final days the estimator is judged over; it is "
        "judged once that many final days have an estimate and a realized value.",
    )
    max_miss_rate_p: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Warn when the realized value fell outside the estimate's 95 % interval on "
        "so many of the window's days that a calibrated estimator would miss that often with "
        "probability below this (binomial test against a 5 % miss rate).",
    )
    alert: bool = Field(
        default=False,
        description="Raise the warning as an `estimator_quality` alert (sent to the channels). "
        "Off by default: the judgement is a warning in the run's log and rows of "
        "`estimation_quality`, since a partly labelled final day can miss by chance more often "
        "than the band allows; turn it on once the band has proved itself on your data.",
    )


Severity = Literal["error", "warning", "off"]
# Expectation keys the pipeline sets itself (`meta` carries the expectation's name).
RESERVED_EXPECTATION_KWARGS = frozenset({"meta"})


class CustomExpectation(BaseModel):
    """A Great Expectations 1.x expectation a user adds to a model's suite.

    `expectation` is the class name in `great_expectations.expectations`; every other key except
    `severity` and `name` is passed to it as a keyword argument. Only the shape is checked when
    the file loads (importing Great Expectations is slow); `perf-pipeline validate` also checks
    that the class exists and accepts the arguments.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    expectation: str = Field(pattern=r"^Expect[A-Za-z0-9]+$")
    severity: Literal["error", "warning"] = Field(
        default="error", description="`error` blocks the day when it fails; `warning` records."
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        description="The `data_quality.expectation` value and the check's label; default "
        "`<column>_<expectation in snake case>`.",
    )

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def default_name(self) -> str:
        words = re.sub(r"(?<!^)(?=[A-Z])", "_", self.expectation.removeprefix("Expect")).lower()
        column = self.kwargs.get("column")
        return f"{column}_{words}" if isinstance(column, str) else words


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
    expectations: list[CustomExpectation] = Field(default_factory=list)

    def custom_names(self) -> list[str]:
        """The name of each custom expectation, in file order: the given one, or the default
        made unique with a `_2`, `_3`, ... suffix."""
        names: list[str] = []
        for entry in self.expectations:
            name = entry.name or entry.default_name
            if entry.name is None:
                base, n = name, 1
                while name in names:
                    n += 1
                    name = f"{base}_{n}"
            names.append(name)
        return names


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
    label_delay_days: int = Field(
        default=14,
        ge=0,
        description="How long labels usually take: a day's realized metrics are final once "
        "this many days have passed after it, whatever its label coverage.",
    )
    labels: LabelSettings = Field(default_factory=LabelSettings)
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
    estimation: EstimationSettings = Field(
        default_factory=EstimationSettings,
        description="Tracking of the estimator against the final realized values.",
    )
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    lifecycle: AlertLifecycleSettings = Field(default_factory=AlertLifecycleSettings)
    owners: Owners = Field(default_factory=list)  # on every asset (team:x or e-mail)
    tags: Tags = Field(default_factory=dict)  # Dagster asset tags of every asset
    shadow_versions: list[str] = Field(
        default_factory=list,
        description="Model versions logged in shadow beside production (for the release gate): "
        "their rows stay in `predictions` but are left out of performance, drift, label lag "
        "and a trailing reference, which measure the production model alone.",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_drift_share(cls, data: Any) -> Any:
        """`thresholds.drift_share.max` and `drift.share_threshold` are one setting: the former,
        when given, sets the latter, so everything downstream reads `drift.share_threshold`.
        Values that do not fit are left alone for the rules to name."""
        if not isinstance(data, dict):
            return data
        thresholds, drift = data.get("thresholds"), data.get("drift", {})
        share = thresholds.get("drift_share") if isinstance(thresholds, dict) else None
        limit = share.get("max") if isinstance(share, dict) else None
        usable = isinstance(limit, int | float) and not isinstance(limit, bool) and 0 < limit <= 1
        if usable and isinstance(drift, dict) and "share_threshold" not in drift:
            return {**data, "drift": {**drift, "share_threshold": float(limit)}}
        return data

    @field_validator("positive_class", mode="before")
    @classmethod
    def _positive_not_boolean(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(_BOOLEAN_VALUE)
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_not_boolean(cls, value: object) -> object:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError(_BOOLEAN_VALUE)
        return value

    @field_validator("shadow_versions", mode="before")
    @classmethod
    def _shadow_version_names(cls, value: object) -> object:
        """A lone name (`shadow_versions: v4`) or a YAML number (`[4]`, `[1.10]` read as 1.1)
        would silently match no logged `model_version`; ask for a list of text names instead."""
        if not isinstance(value, list):
            raise ValueError(f"'shadow_versions' must be a list of version names, not {value!r}")
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ValueError(
                f"'shadow_versions' entries must be non-empty version names as text "
                f"(quote a number: ['4']), not {bad}"
            )
        return value

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
    def _task_specific(self, info: ValidationInfo) -> ModelConfig:
        """Built in code, a model gets these basic checks; from the models file, `load_models`
        applies every rule of `perf_pipeline.config.rules` instead."""
        if info.context and info.context.get(FILE_RULES):
            return self
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
        """Every column a prediction log must carry for this model (beyond the fixed ones).

        Segments and protected attributes may be logged columns that are not features: fairness
        attributes are often deliberately kept out of a model's inputs, yet must be logged to
        measure it per group.
        """
        columns = list(self.features.all)
        for column in [*self.segments, *self.protected_attributes]:
            if column not in columns:
                columns.append(column)
        return columns

    @property
    def score_columns(self) -> list[str]:
        """The score columns a prediction log carries: `score` for a binary classifier, one
        `score_<class>` per class for a multiclass one, none for the other tasks.

        Declared with the model rather than in the ingest, so listing the quality suite (what
        loading the code location does) needs none of the ingest's Arrow readers.
        """
        if self.task is Task.BINARY_CLASSIFICATION:
            return ["score"]
        if self.task is Task.MULTICLASS_CLASSIFICATION:
            return [f"score_{c}" for c in self.classes]
        return []


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
