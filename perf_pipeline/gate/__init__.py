"""The release gate: may a candidate model version replace production?

Stage logic only (no Dagster): `evaluate.decide` gathers both versions' rows (`pairing` on
traffic, `holdout` offline), `compare` measures every gated metric per version with the
difference's interval (`bootstrap`, `delong`, over the `kernels`), `policy` turns the models
file's `gate:` settings into findings and a verdict, `decision` renders it and `store` records
it in the `gate_decisions` table. README, "Release gate".
"""

from perf_pipeline.gate.decision import GateDecision
from perf_pipeline.gate.evaluate import GateConfigError, GateRequest, decide
from perf_pipeline.gate.holdout import HoldoutError
from perf_pipeline.gate.policy import Verdict
from perf_pipeline.gate.store import record_decision

__all__ = [
    "GateConfigError",
    "GateDecision",
    "GateRequest",
    "HoldoutError",
    "Verdict",
    "decide",
    "record_decision",
]
