"""Offline mode: judge a candidate on a labelled hold-out file before it sees any traffic.

The file is reference-style input (DESIGN §2: the columns of a prediction log plus `label`),
Parquet, CSV or JSON Lines, in one of two shapes:

- **Both versions in the file**: a `model_version` column; the candidate's rows and the
  baseline's (by default the other version with the most rows) share `prediction_id` (or its
  request key, as on traffic), so the comparison is paired.
- **The candidate alone** (no `model_version` column, or only the candidate's): the baseline is
  the production model's own scores in the model's reference set (the `reference` table, the
  validation set the model was accepted on), paired with the file's rows on `prediction_id`:
  score the reference set's rows with the candidate and hand them in.

Labels come from the file (the reference's where a file row has none).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.config.model import canonical_class_text
from perf_pipeline.gate.pairing import GateInput, NotEnoughData, compare_versions, default_baseline
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.sql import quote_literal

__all__ = ["HoldoutError", "holdout_input", "read_holdout"]

_READERS = {
    ".parquet": "read_parquet({})",
    ".csv": "read_csv({}, header = true, all_varchar = true)",
    ".jsonl": "read_json({}, format = 'newline_delimited')",
    ".json": "read_json({}, format = 'newline_delimited')",
}


class HoldoutError(ValueError):
    """A hold-out file that cannot be used, with the file and the problem named."""


def _needed(model: ModelConfig) -> list[str]:
    judged = ["score"] if model.task is Task.BINARY_CLASSIFICATION else ["prediction"]
    segments = list(dict.fromkeys([*model.segments, *model.protected_attributes]))
    return ["prediction_id", "label", *judged, *segments]


def _normalized(model: ModelConfig, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The lake's types: classes as canonical text, scores and regression numbers as floats."""
    out = frame.copy()
    for column in ("prediction", "score", "model_version"):
        if column not in out:
            out[column] = None
    try:
        if model.task is Task.REGRESSION:
            out["label"] = pd.to_numeric(out["label"], errors="raise").astype(float)
            out["prediction"] = pd.to_numeric(out["prediction"], errors="raise").astype(float)
        else:
            for column in ("label", "prediction"):
                out[column] = [None if pd.isna(v) else canonical_class_text(v) for v in out[column]]
            out["score"] = pd.to_numeric(out["score"], errors="raise").astype(float)
    except (TypeError, ValueError) as exc:
        raise HoldoutError(f"{where}: a label, prediction or score is not a number: {exc}") from exc
    for column in [*model.segments, *model.protected_attributes]:
        out[column] = out[column].astype("string").astype(object).where(out[column].notna(), None)
    out["prediction_id"] = out["prediction_id"].astype("string")
    return out


def read_holdout(con: duckdb.DuckDBPyConnection, model: ModelConfig, file: Path) -> pd.DataFrame:
    """The file's rows in the lake's shape; a missing file or column is an error naming it."""
    reader = _READERS.get(file.suffix.lower())
    if reader is None:
        raise HoldoutError(f"{file}: unsupported file type; use one of {sorted(_READERS)}")
    if not file.is_file():
        raise HoldoutError(f"{file}: no such file")
    try:
        frame = con.execute(f"SELECT * FROM {reader.format(quote_literal(str(file)))}").df()
    except duckdb.Error as exc:
        raise HoldoutError(f"{file}: cannot be read: {exc}") from exc
    missing = [c for c in _needed(model) if c not in frame.columns]
    if missing:
        raise HoldoutError(f"{file}: missing column(s) {', '.join(missing)} (reference-style)")
    return _normalized(model, frame, str(file))


def _reference_rows(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> pd.DataFrame:
    if not has_files(paths, "reference", model.model_id):
        raise NotEnoughData(
            f"the hold-out file holds only the candidate and model {model.model_id!r} has no "
            "reference set in the lake to compare with (materialize its reference asset)"
        )
    frame = con.execute(f"SELECT * FROM {read_table_sql(paths, 'reference', model.model_id)}").df()
    return _normalized(model, frame, f"reference of {model.model_id}")


def holdout_input(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    file: Path,
    candidate: str,
    baseline: str | None,
) -> GateInput:
    """The candidate's hold-out rows against the baseline's (see the module docstring)."""
    rows = read_holdout(con, model, file)
    versions = rows["model_version"].astype("string")
    if rows["model_version"].isna().all():
        versions = pd.Series(candidate, index=rows.index, dtype="string")
    rows = rows.assign(model_version=versions)
    mine = rows[rows["model_version"] == candidate]
    if mine.empty:
        raise NotEnoughData(f"{file}: no rows of version {candidate!r}")
    others = rows[rows["model_version"] != candidate]
    if baseline is None and not others.empty:
        baseline = default_baseline(rows, candidate)
    theirs = rows[rows["model_version"] == baseline] if baseline else others
    if theirs.empty:
        theirs = _reference_rows(con, paths, model)
        baseline = baseline or "reference"
    source = f"holdout {file.name}"
    return compare_versions(model, theirs, mine, str(baseline), candidate, (None, None), source)
