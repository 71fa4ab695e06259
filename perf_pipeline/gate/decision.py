"""A gate decision: the verdict, its reasons and the evidence behind them, as text or JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from perf_pipeline.gate.compare import Difference
from perf_pipeline.gate.policy import Finding, Verdict

__all__ = ["GateDecision"]


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided about `candidate` against `baseline`, and why."""

    model_id: str
    candidate: str
    baseline: str | None
    source: str
    window_start: dt.date | None
    window_end: dt.date | None
    paired: bool | None
    verdict: Verdict
    findings: list[Finding]
    differences: list[Difference] = field(default_factory=list)
    score_drift: dict = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    decided_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @property
    def reasons(self) -> list[str]:
        """What decided it: the findings that did not pass, or every finding on a pass."""
        deciding = [f for f in self.findings if f.outcome is self.verdict]
        return [f"[{f.rule}] {f.message}" for f in deciding or self.findings]

    @property
    def mode(self) -> str:
        if self.paired is None:
            return "none"
        return "paired" if self.paired else "unpaired"

    @property
    def decision_id(self) -> str:
        """Stable over the inputs and the evidence: the same gate on the same data is one
        decision (re-recorded, never duplicated); new data is a new decision."""
        # Rounded: DuckDB's parallel sums may differ in the last bits between two runs.
        body = json.dumps(_rounded(self.evidence()), sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def evidence(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "source": self.source,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "mode": self.mode,
            "verdict": self.verdict.value,
            "findings": [
                {"rule": f.rule, "outcome": f.outcome.value, "message": f.message}
                for f in self.findings
            ],
            "differences": [d.as_record() for d in self.differences],
            "score_drift": self.score_drift,
            "counts": self.counts,
        }

    def to_json(self) -> str:
        record = {
            "decision_id": self.decision_id,
            **self.evidence(),
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "decided_at": self.decided_at.isoformat(),
        }
        return json.dumps(record, indent=2, default=str)

    def to_text(self) -> str:
        window = f"{self.window_start or '?'} .. {self.window_end or '?'}"
        lines = [
            f"{self.verdict.value.upper()}: {self.model_id} candidate {self.candidate} against "
            f"{self.baseline or '(none)'}, {self.source} {window}, {self.mode}",
            f"exit code {self.exit_code}; reasons:",
            *(f"  {reason}" for reason in self.reasons),
        ]
        others = [f for f in self.findings if f"[{f.rule}] {f.message}" not in self.reasons]
        if others:
            lines.append("other checks:")
            lines += [f"  [{f.rule}] {f.outcome.value}: {f.message}" for f in others]
        return "\n".join(lines)
