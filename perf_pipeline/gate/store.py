"""The `gate_decisions` table: every gate decision with its evidence, in the lake.

One file per decision, `warehouse/gate_decisions/model=<id>/date=<decided day>/<decision id>
.parquet`, written atomically. The decision id hashes the inputs and the evidence, so the same
gate re-run on the same data rewrites its file (with the later `decided_at`), never a
duplicate row, while a decision on new data is a new row.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from perf_pipeline.gate.decision import GateDecision
from perf_pipeline.lake import write_frame_partitions
from perf_pipeline.paths import DataPaths

__all__ = ["GATE_DECISIONS", "TABLE", "record_decision"]

TABLE = "gate_decisions"
GATE_DECISIONS = {
    "decision_id": "VARCHAR",
    "model_id": "VARCHAR",
    "date": "DATE",
    "candidate": "VARCHAR",
    "baseline": "VARCHAR",
    "source": "VARCHAR",
    "mode": "VARCHAR",
    "window_start": "DATE",
    "window_end": "DATE",
    "verdict": "VARCHAR",
    "exit_code": "INTEGER",
    "reasons": "VARCHAR",
    "findings": "VARCHAR",
    "differences": "VARCHAR",
    "score_drift": "VARCHAR",
    "labelled_rows": "BIGINT",
    "decided_at": "TIMESTAMPTZ",
}


def _row(decision: GateDecision) -> dict[str, object]:
    evidence = decision.evidence()
    counts = decision.counts
    labelled = min(counts.get("baseline_labelled", 0), counts.get("candidate_labelled", 0))
    return {
        "decision_id": decision.decision_id,
        "model_id": decision.model_id,
        "date": decision.decided_at.date(),
        "candidate": decision.candidate,
        "baseline": decision.baseline,
        "source": decision.source,
        "mode": decision.mode,
        "window_start": decision.window_start,
        "window_end": decision.window_end,
        "verdict": decision.verdict.value,
        "exit_code": decision.exit_code,
        "reasons": json.dumps(decision.reasons),
        "findings": json.dumps(evidence["findings"]),
        "differences": json.dumps(evidence["differences"], default=str),
        "score_drift": json.dumps(decision.score_drift, default=str),
        "labelled_rows": labelled,
        "decided_at": decision.decided_at,
    }


def record_decision(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, decision: GateDecision
) -> None:
    """Write the decision's row to its own file of the decided day's partition."""
    frame = pd.DataFrame([_row(decision)])
    day = decision.decided_at.date()
    write_frame_partitions(
        con,
        paths,
        TABLE,
        decision.model_id,
        frame,
        GATE_DECISIONS,
        [day],
        file_name=f"{decision.decision_id}.parquet",
    )
