"""The policy's rules applied to the comparison: each rule a finding, the findings a verdict.

- `min_labelled_rows`: fewer labelled rows (pairs when paired, the smaller version otherwise)
  make the answer "not enough data", whatever else is found: the intervals would mean little.
- `metrics`: non-inferiority. The candidate passes a metric when the worse end of the two-sided
  `confidence` interval of its difference is within `max_worse`; an undefined metric (no
  positive labels, say) cannot be judged and is "not enough data" too.
- `max_segment_worse`: a segment value with at least `min_segment_rows` labelled rows fails when
  its point worsening is beyond the limit *and* its interval excludes no change. A small segment's
  interval is wide, so demanding non-inferiority there would fail every candidate on noise;
  this asks for evidence of harm instead.
- `fairness_gaps_not_wider`: each fairness metric per protected attribute fails by the same
  rule when its gap widened by more than `fairness_tolerance` (a ratio widens as it falls).
- `max_score_drift`: the candidate's scores against the baseline's, by the drift registry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from perf_pipeline.config import ModelConfig
from perf_pipeline.gate.compare import Difference
from perf_pipeline.gate.pairing import GateInput
from perf_pipeline.metrics.performance import ALL, FAIRNESS_GROUPS

__all__ = ["Finding", "Verdict", "findings", "verdict_of"]


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_ENOUGH_DATA = "not_enough_data"

    @property
    def exit_code(self) -> int:
        return {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.NOT_ENOUGH_DATA: 2}[self]


@dataclass(frozen=True)
class Finding:
    """One rule on one metric or group: `outcome` is a `Verdict` (pass, fail or not enough
    data to judge) and `message` says why, with the numbers."""

    rule: str
    outcome: Verdict
    message: str


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _interval(d: Difference) -> str:
    return f"{d.confidence:.0%} CI {_fmt(d.ci_low)} .. {_fmt(d.ci_high)}, {d.method}"


def _where(d: Difference) -> str:
    if d.segment_value == ALL:
        return "overall"
    if d.segment_value == FAIRNESS_GROUPS:
        return f"across {d.segment_column}"
    return f"in {d.segment_column}={d.segment_value}"


def _describe(d: Difference) -> str:
    base = "n/a" if d.baseline is None else f"{d.baseline:.4f}"
    cand = "n/a" if d.candidate is None else f"{d.candidate:.4f}"
    return f"{d.metric} {_where(d)}: {base} -> {cand} (diff {_fmt(d.difference)}; {_interval(d)})"


def _metric_finding(d: Difference, max_worse: float) -> Finding:
    if d.worst is None:
        return Finding("metric", Verdict.NOT_ENOUGH_DATA, f"{_describe(d)}: cannot be judged")
    ok = d.worst <= max_worse
    outcome = Verdict.PASS if ok else Verdict.FAIL
    bound = "within" if ok else "beyond"
    return Finding("metric", outcome, f"{_describe(d)}: worst case {bound} {max_worse}")


def _shown_worse(d: Difference, limit: float) -> bool:
    """Point worsening beyond `limit` and the whole interval on the worse side of zero."""
    return d.worse_by is not None and d.worse_by > limit and d.best is not None and d.best > 0


@dataclass(frozen=True)
class _HarmRule:
    """A rule that fails only on evidence of harm (`_shown_worse`), and its words for each
    outcome."""

    name: str
    worse: str
    not_worse: str


_SEGMENT = _HarmRule("segment", "worse beyond", "not shown worse beyond")
_FAIRNESS = _HarmRule("fairness", "gap wider by more than", "gap not shown wider than")


def _harm_finding(rule: _HarmRule, d: Difference, limit: float, unjudged: str | None) -> Finding:
    """The segment and fairness rules' one test; `unjudged` says why a difference cannot be
    judged (it then passes: no evidence of harm)."""
    if unjudged is not None:
        return Finding(rule.name, Verdict.PASS, f"{_describe(d)}: {unjudged}, not judged")
    worse = _shown_worse(d, limit)
    words = rule.worse if worse else rule.not_worse
    outcome = Verdict.FAIL if worse else Verdict.PASS
    return Finding(rule.name, outcome, f"{_describe(d)}: {words} {limit}")


def _segment_findings(model: ModelConfig, diffs: list[Difference]) -> list[Finding]:
    limit = model.gate.max_segment_worse
    if limit is None:
        return []

    def unjudged(d: Difference) -> str | None:
        too_few = d.n < model.gate.min_segment_rows or d.worse_by is None
        return f"{d.n} labelled rows" if too_few else None

    segments = (d for d in diffs if d.segment_value not in (ALL, FAIRNESS_GROUPS))
    return [_harm_finding(_SEGMENT, d, limit, unjudged(d)) for d in segments]


def _fairness_findings(model: ModelConfig, diffs: list[Difference]) -> list[Finding]:
    if not model.gate.fairness_gaps_not_wider:
        return []
    undefined = "undefined (fewer than two groups)"
    gaps = (d for d in diffs if d.segment_value == FAIRNESS_GROUPS)
    return [
        _harm_finding(
            _FAIRNESS, d, model.gate.fairness_tolerance, undefined if d.worse_by is None else None
        )
        for d in gaps
    ]


def score_drift_finding(model: ModelConfig, gi: GateInput) -> tuple[Finding | None, dict]:
    """The candidate's scores against the baseline's (the baseline is the reference side)."""
    limit = model.gate.max_score_drift
    if limit is None:
        return None, {}
    from perf_pipeline.drift.kernels import NUMERICAL, ColumnSample
    from perf_pipeline.drift.registry import get

    if gi.baseline_scores.size == 0 or gi.candidate_scores.size == 0:
        msg = "score drift: a version logged no scores, not measured"
        return Finding("score_drift", Verdict.NOT_ENOUGH_DATA, msg), {}
    method = get(limit.method)
    import pandas as pd

    ref = ColumnSample.from_series(pd.Series(gi.baseline_scores), NUMERICAL)
    cur = ColumnSample.from_series(pd.Series(gi.candidate_scores), NUMERICAL)
    statistic, p_value = method.measure(ref, cur)
    threshold = limit.threshold if limit.threshold is not None else method.default_threshold
    score = method.thresholded(statistic, p_value)
    drifted = score is not None and np.isfinite(score) and method.is_drifted(score, threshold)
    evidence = {"method": method.name, "statistic": statistic, "p_value": p_value}
    evidence |= {"threshold": threshold, "drifted": bool(drifted)}
    shown = f"{method.name} {'p-value' if method.uses_p_value else 'statistic'} {score:.4f}"
    message = f"score drift against the baseline: {shown}, threshold {threshold}"
    return Finding("score_drift", Verdict.FAIL if drifted else Verdict.PASS, message), evidence


def _labelled(gi: GateInput) -> int:
    if gi.paired:
        return len(gi.baseline)
    return min(len(gi.baseline), len(gi.candidate))


def findings(model: ModelConfig, gi: GateInput, diffs: list[Difference]) -> list[Finding]:
    """Every rule's findings, the data rule first."""
    labelled, needed = _labelled(gi), model.gate.min_labelled_rows
    kind = "paired labelled requests" if gi.paired else "labelled rows of the smaller version"
    enough = labelled >= needed
    data = Finding(
        "min_labelled_rows",
        Verdict.PASS if enough else Verdict.NOT_ENOUGH_DATA,
        f"{labelled} {kind} ({'at least' if enough else 'fewer than'} {needed} needed)",
    )
    overall = [d for d in diffs if d.segment_value == ALL]
    limits = model.gate.metrics
    return [
        data,
        *(_metric_finding(d, limits[d.metric].max_worse) for d in overall if d.metric in limits),
        *_segment_findings(model, diffs),
        *_fairness_findings(model, diffs),
    ]


def verdict_of(found: list[Finding]) -> Verdict:
    """Not enough data wins (the numbers cannot carry a decision), then any failure."""
    outcomes = {f.outcome for f in found}
    if Verdict.NOT_ENOUGH_DATA in outcomes:
        return Verdict.NOT_ENOUGH_DATA
    return Verdict.FAIL if Verdict.FAIL in outcomes else Verdict.PASS
