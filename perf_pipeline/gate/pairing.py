"""What the gate compares: each version's rows in a window of the lake, paired by request.

**The pairing key.** `prediction_id` is unique per model (a repeated id is quarantined), so a
shadow deployment logs its own row per request with an id of its own: the request's id, the
policy's `pair_separator` (default `#`) and anything after it, `r-17#v4` beside production's
`r-17`. A row's *request key* is its id up to the last separator (the whole id when it has none).
Labels come for the request, usually under the id production served; a pair takes the label of
either of its rows (the baseline's when both are labelled).

**Shadow or split.** When at least half of the candidate's rows have a baseline row with the
same request key, the versions are compared *paired*, on the labelled requests both scored.
Otherwise the traffic was split between them and each version is measured on its own labelled
rows: *unpaired*, which the verdict says, since then the difference carries the two samples'
own noise as well.

**The baseline** defaults to the version other than the candidate that served the most rows in
the window. **The window** defaults to the days the candidate has rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.gate.kernels import Rows
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_identifier

__all__ = ["GateInput", "NotEnoughData", "request_keys", "rows_of", "traffic_input"]

PAIRED_SHARE = 0.5


class NotEnoughData(Exception):
    """Nothing to compare (no rows of a version in the window): the gate answers 2."""


@dataclass(frozen=True)
class GateInput:
    """Both versions' labelled rows (row i of each is the same request when `paired`) in the
    registry's input shape (`date`, `label`, `prediction`, `score`, segment columns as text),
    and every scored row of each version for the score-drift rule."""

    baseline_version: str
    candidate_version: str
    start: dt.date | None
    end: dt.date | None
    source: str
    paired: bool
    baseline: pd.DataFrame
    candidate: pd.DataFrame
    baseline_scores: np.ndarray
    candidate_scores: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)


def request_keys(ids: pd.Series, separator: str) -> pd.Series:
    """Each prediction id's request key: the id up to its last `separator`."""
    return ids.astype("string").str.rsplit(separator, n=1).str[0]


def _columns(model: ModelConfig) -> list[str]:
    return list(dict.fromkeys([*model.segments, *model.protected_attributes]))


def _load(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    start: dt.date | None,
    end: dt.date | None,
) -> pd.DataFrame:
    """Predictions of the window with their latest label; segments as text (as the registry
    groups them), so a value reads the same in the point values and the resampling masks."""
    if not has_files(paths, "predictions", model.model_id):
        raise NotEnoughData(f"model {model.model_id!r} has no predictions in the lake yet")
    segments = ", ".join(
        f"CAST(p.{quote_identifier(c)} AS VARCHAR) AS {quote_identifier(c)}"
        for c in _columns(model)
    )
    score = "p.score" if model.task is Task.BINARY_CLASSIFICATION else "NULL::DOUBLE"
    labels = "SELECT NULL::VARCHAR AS prediction_id, NULL AS label WHERE false"
    if has_files(paths, "labels", model.model_id):
        labels = (
            "SELECT prediction_id, arg_max(label, (arrival_date, label_timestamp)) AS label "
            f"FROM {read_table_sql(paths, 'labels', model.model_id)} GROUP BY prediction_id"
        )
    where = " AND ".join(
        ["true"] + (["p.date >= $start"] if start else []) + (["p.date <= $end"] if end else [])
    )
    params = {k: v for k, v in {"start": start, "end": end}.items() if v}
    sql = f"""
        WITH latest AS ({labels})
        SELECT p.date, CAST(p.prediction_id AS VARCHAR) AS prediction_id,
          CAST(p.model_version AS VARCHAR) AS model_version, p.prediction,
          CAST({score} AS DOUBLE) AS score, l.label{", " + segments if segments else ""}
        FROM {read_table_sql(paths, "predictions", model.model_id)} AS p
        LEFT JOIN latest AS l USING (prediction_id)
        WHERE {where}"""
    return con.execute(sql, params).df()


def default_baseline(frame: pd.DataFrame, candidate: str) -> str:
    """The version, other than the candidate, that served the most rows."""
    others = frame.loc[frame["model_version"] != candidate, "model_version"].dropna()
    if others.empty:
        raise NotEnoughData(f"no version other than {candidate!r} served in the window")
    counts = others.value_counts()
    return str(counts.sort_index().idxmax() if counts.is_unique else counts.index[0])


def traffic_input(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    candidate: str,
    baseline: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> GateInput:
    """The two versions' rows in the lake over the window (see the module docstring)."""
    frame = _load(con, paths, model, start, end)
    mine = frame[frame["model_version"] == candidate]
    if mine.empty:
        raise NotEnoughData(f"version {candidate!r} has no predictions in the window")
    days = pd.to_datetime(mine["date"]).dt.date
    start, end = start or days.min(), end or days.max()
    on = pd.to_datetime(frame["date"]).dt.date
    frame = frame[(on >= start) & (on <= end)]
    baseline = baseline or default_baseline(frame, candidate)
    theirs = frame[frame["model_version"] == baseline]
    if theirs.empty:
        raise NotEnoughData(f"baseline version {baseline!r} has no predictions in the window")
    return compare_versions(
        model,
        theirs,
        frame[frame["model_version"] == candidate],
        baseline,
        candidate,
        (start, end),
        "traffic",
    )


def compare_versions(
    model: ModelConfig,
    theirs: pd.DataFrame,
    mine: pd.DataFrame,
    baseline: str,
    candidate: str,
    window: tuple[dt.date | None, dt.date | None],
    source: str,
) -> GateInput:
    """Pair the two versions' rows by request key when they are shadows of each other."""
    separator = model.gate.pair_separator
    theirs = theirs.assign(_key=request_keys(theirs["prediction_id"], separator))
    mine = mine.assign(_key=request_keys(mine["prediction_id"], separator))
    # Sorted by request: DuckDB returns rows in no fixed order, and the seeded bootstrap draws
    # rows by position, so the same data must always arrive in the same order.
    theirs = theirs.sort_values(["_key", "prediction_id"]).drop_duplicates("_key")
    mine = mine.sort_values(["_key", "prediction_id"]).drop_duplicates("_key")
    pairs = theirs.merge(mine, on="_key", suffixes=("", "_c"))
    paired = len(pairs) >= PAIRED_SHARE * len(mine) and len(pairs) > 0
    counts = {"baseline_rows": len(theirs), "candidate_rows": len(mine), "pairs": len(pairs)}
    if paired:
        label = pairs["label"].where(pairs["label"].notna(), pairs["label_c"])
        pairs = pairs.assign(label=label)
        decided = _decided(model, pairs) & _decided(model, pairs, "_c") & label.notna()
        pairs = pairs[decided]
        base = pairs[_shape(model)]
        cand = pairs[[c + ("_c" if c in ("prediction", "score") else "") for c in _shape(model)]]
        cand.columns = _shape(model)
    else:
        base = theirs[_decided(model, theirs) & theirs["label"].notna()][_shape(model)]
        cand = mine[_decided(model, mine) & mine["label"].notna()][_shape(model)]
    counts |= {"baseline_labelled": len(base), "candidate_labelled": len(cand)}
    return GateInput(
        baseline_version=baseline,
        candidate_version=candidate,
        start=window[0],
        end=window[1],
        source=source,
        paired=paired,
        baseline=base.reset_index(drop=True),
        candidate=cand.reset_index(drop=True),
        baseline_scores=theirs["score"].dropna().to_numpy(dtype=float),
        candidate_scores=mine["score"].dropna().to_numpy(dtype=float),
        counts=counts,
    )


def _shape(model: ModelConfig) -> list[str]:
    return ["label", "prediction", "score", *_columns(model)]


def _decided(model: ModelConfig, frame: pd.DataFrame, suffix: str = "") -> pd.Series:
    """Rows with something to judge: a score or a logged prediction (a binary row with
    neither decides nothing; other tasks always log a prediction)."""
    prediction = frame["prediction" + suffix].notna()
    if model.task is Task.BINARY_CLASSIFICATION:
        return prediction | frame["score" + suffix].notna()
    return prediction


def rows_of(model: ModelConfig, frame: pd.DataFrame) -> Rows:
    """A version's rows as the kernels read them, normalized as the registry normalizes them
    (`perf_pipeline.metrics.registry`: `y`, `yhat`, `p`)."""
    if model.task is Task.REGRESSION:
        return Rows(
            frame["label"].to_numpy(dtype=float),
            np.full(len(frame), np.nan),
            frame["prediction"].to_numpy(dtype=float),
        )
    positive = model.binary_classes[1]
    p = frame["score"].to_numpy(dtype=float)
    logged = frame["prediction"].notna().to_numpy()
    from_log = (frame["prediction"].astype("string") == positive).fillna(False).to_numpy()
    from_score = np.nan_to_num(p, nan=-np.inf) >= model.decision_threshold
    if model.predicted_class == "threshold":
        yhat = np.where(~np.isnan(p), from_score, from_log)
    else:
        yhat = np.where(logged, from_log, from_score)
    y = (frame["label"].astype("string") == positive).fillna(False).to_numpy()
    return Rows(y, p, yhat.astype(bool))
