"""The release-gate policy of one model: `gate:` in its models-file entry.

A candidate version may replace the production version when, on the same traffic (or a labelled
hold-out file), it is not worse beyond these limits. Every limit is measured in the metric's bad
direction (a fall for roc_auc, a rise for mae), like `thresholds.<metric>.max_drop`. The gate's
statistics and verdict live in `perf_pipeline.gate`; this module only checks the settings, so a
misspelt metric or drift method fails when the models file loads, with its key path.
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Metrics the gate can judge: those with a resampling kernel in `perf_pipeline.gate.kernels`
# (which a test holds equal to the registry's SQL). Listed here, not imported, so loading the
# models file stays light; `perf_pipeline_tests/test_gate_statistics.py` checks the two agree.
GATE_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": (
        "accuracy",
        "balanced_accuracy",
        "brier",
        "f1",
        "log_loss",
        "pr_auc",
        "precision",
        "recall",
        "roc_auc",
        "specificity",
    ),
    "regression": ("mae", "r2", "rmse"),
}
ALL_GATE_METRICS = tuple(sorted({m for names in GATE_METRICS.values() for m in names}))


def _one_of(valid: tuple[str, ...], given: str) -> str:
    close = difflib.get_close_matches(given, valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}valid: {', '.join(valid)}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricLimit(_Strict):
    """`max_worse`: the largest worsening tolerated; the candidate passes the metric when the
    whole two-sided `confidence` interval of its difference lies inside it (non-inferiority)."""

    max_worse: float = Field(ge=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class ScoreDriftLimit(_Strict):
    """The candidate's scores against the baseline's on the same window, by a drift method of
    `perf_pipeline.drift.registry`; `threshold` defaults to the method's own."""

    method: str = "wasserstein"
    threshold: float | None = Field(default=None, gt=0)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from perf_pipeline.drift.registry import method_names

        names = tuple(method_names())
        if value not in names:
            raise ValueError(f"unknown drift method {value!r}; {_one_of(names, value)}")
        return value


class GateSettings(_Strict):
    """A model's release-gate policy (README, "Release gate").

    - `metrics`: per metric, the tolerated worsening and the confidence of its interval.
    - `max_segment_worse`: a segment value fails the gate when its point worsening (on every
      gated metric) is beyond this and its interval excludes no change: segments are small, so
      a segment must be shown worse, not merely be unproven.
    - `fairness_gaps_not_wider`: each fairness metric the model computes (binary classifiers with
      `protected_attributes`) may not widen by more than `fairness_tolerance`, by the same rule.
    - `max_score_drift`: the candidate's score distribution against the baseline's.
    - `min_labelled_rows`: fewer labelled rows than this (paired rows in shadow mode, each
      version's in a traffic split): the answer is "not enough data" (exit 2).
    - `min_segment_rows`: segment values with fewer labelled rows are listed, not judged.
    - `pair_separator`: a shadow row's `prediction_id` is its request's id, this separator and
      anything (`r-17#v4` pairs with `r-17`); see `perf_pipeline.gate.pairing`.
    - `bootstrap_resamples`, `seed`: the paired bootstrap's size and its seed (the same inputs
      always give the same intervals).
    """

    metrics: dict[str, MetricLimit] = Field(default_factory=dict)
    max_segment_worse: float | None = Field(default=None, ge=0)
    fairness_gaps_not_wider: bool = False
    fairness_tolerance: float = Field(default=0.0, ge=0)
    max_score_drift: ScoreDriftLimit | None = None
    min_labelled_rows: int = Field(default=500, ge=1)
    min_segment_rows: int = Field(default=100, ge=1)
    pair_separator: str = Field(default="#", min_length=1, max_length=8)
    bootstrap_resamples: int = Field(default=1000, ge=100, le=10_000)
    seed: int = 0

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, MetricLimit]) -> dict[str, MetricLimit]:
        unknown = [name for name in value if name not in ALL_GATE_METRICS]
        if unknown:
            name = unknown[0]
            raise ValueError(
                f"the gate cannot judge metric {name!r}; {_one_of(ALL_GATE_METRICS, name)}"
            )
        return value

    @model_validator(mode="after")
    def _judges_something(self) -> GateSettings:
        if self.max_segment_worse is not None and not self.metrics:
            raise ValueError("max_segment_worse applies to the gated metrics: list some in metrics")
        return self

    def problems_for_task(self, task: str) -> list[str]:
        """Gated metrics the model's task does not compute (the settings cannot know the task)."""
        valid = GATE_METRICS.get(task, ())
        if self.metrics and not valid:
            return [f"the gate judges binary_classification and regression models, not {task}"]
        return [
            f"gate.metrics.{name}: not a {task} metric; {_one_of(valid, name)}"
            for name in self.metrics
            if name not in valid
        ]
