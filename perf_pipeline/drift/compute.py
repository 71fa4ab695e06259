"""The `drift` table (DESIGN §3, §5): each day against the model's reference, per column.

The reference stays the same for many days (a whole backfill), so it is summarised once by
`build_reference_profile` and each day only summarises its own rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.drift.methods import (
    CATEGORICAL,
    NUMERICAL,
    ColumnSample,
    Kind,
    check_method,
    is_drifted,
    psi_or_none,
    run_test,
)
from perf_pipeline.drift.multiple_testing import benjamini_hochberg, correction_of
from perf_pipeline.drift.registry import p_value_method_names

DATASET_COLUMN = "__dataset__"
SHARE_METHOD = "share_of_drifted_columns"
OUTPUT_COLUMNS = [
    "model_id",
    "date",
    "column",
    "method",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "reference_kind",
    "psi",
]
_DTYPES = {
    "model_id": "string",
    "date": "object",
    "column": "string",
    "method": "string",
    "statistic": "Float64",
    "p_value": "Float64",
    "threshold": "Float64",
    "drifted": "boolean",
    "reference_kind": "string",
    "psi": "Float64",
}


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference summarised per drift column, ready to compare with any number of days."""

    model_id: str
    columns: dict[str, ColumnSample]


def drift_columns(model: ModelConfig, has_score: bool) -> dict[str, Kind]:
    """Features, then the model's outputs, which drift like any input.

    A ranking `prediction` is a list of item ids: no distribution test applies, so it is left out.
    """
    columns: dict[str, Kind] = dict.fromkeys(model.features.numerical, NUMERICAL)
    columns.update(dict.fromkeys(model.features.categorical, CATEGORICAL))
    if model.task is not Task.RANKING:
        columns["prediction"] = CATEGORICAL if model.is_classifier else NUMERICAL
    if has_score:
        columns["score"] = NUMERICAL
    return columns


def _sample(frame: pd.DataFrame, column: str, kind: Kind) -> ColumnSample:
    # A column missing from the data is an empty sample: its row says NULL instead of failing.
    series = frame[column] if column in frame.columns else pd.Series([], dtype=object)
    try:
        return ColumnSample.from_series(series, kind)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"drift column {column!r} should be {kind}: {exc}") from exc


def check_settings(model: ModelConfig, columns: dict[str, Kind]) -> None:
    """Reject method overrides and corrections that cannot apply, before any day is computed."""
    for column, method in model.drift.methods.items():
        if column in columns:
            check_method(method, columns[column], column)
    correction_of(model.drift)


def build_reference_profile(reference: pd.DataFrame, model: ModelConfig) -> ReferenceProfile:
    """Summarise the reference once; also rejects method overrides that cannot apply."""
    columns = drift_columns(model, has_score="score" in reference.columns)
    check_settings(model, columns)
    samples = {column: _sample(reference, column, kind) for column, kind in columns.items()}
    return ReferenceProfile(model_id=model.model_id, columns=samples)


def _day_rows(
    profile: ReferenceProfile,
    day: pd.DataFrame,
    columns: dict[str, Kind],
    model: ModelConfig,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for column, kind in columns.items():
        reference = profile.columns.get(column) or _sample(pd.DataFrame(), column, kind)
        current = _sample(day, column, kind)
        result = run_test(
            reference,
            current,
            method=model.drift.methods.get(column),
            threshold=model.drift.thresholds.get(column),
        )
        rows.append(
            {
                "column": column,
                "method": result.method,
                "statistic": result.statistic,
                "p_value": result.p_value,
                "threshold": result.threshold,
                "drifted": result.drifted,
                "psi": psi_or_none(reference, current),
            }
        )
    return finish_day(rows, model)


def finish_day(column_rows: list[dict[str, object]], model: ModelConfig) -> list[dict[str, object]]:
    """A day's column rows, corrected for multiple testing when configured, plus the share row."""
    if correction_of(model.drift) is not None:
        _adjust_p_values(column_rows)
    return [*column_rows, _dataset_row(column_rows, model.drift.share_threshold)]


def _adjust_p_values(column_rows: list[dict[str, object]]) -> None:
    """Benjamini-Hochberg over the day's p-value columns.

    `p_value` becomes the adjusted p-value, since it is what `threshold` applies to and what
    `drifted` follows; the raw p-value is not stored. `statistic` stays the test's own, which
    the correction does not change. Distance columns are left as they are.
    """
    p_value_methods = p_value_method_names()
    tested = [
        row
        for row in column_rows
        if row["method"] in p_value_methods and row["p_value"] is not None
    ]
    adjusted = benjamini_hochberg([float(row["p_value"]) for row in tested])  # type: ignore[arg-type]
    for row, value in zip(tested, adjusted, strict=True):
        row["p_value"] = float(value)
        row["drifted"] = is_drifted(str(row["method"]), float(value), float(row["threshold"]))  # type: ignore[arg-type]


def _dataset_row(column_rows: list[dict[str, object]], share_threshold: float) -> dict[str, object]:
    """Share of drifted columns among those that could be tested (Evidently's dataset drift).

    The dataset drifts when the share reaches `drift.share_threshold` (`>=`, as Evidently's
    `drift_share`): that one setting decides, and it is the row's `threshold`.
    """
    tested = [row["drifted"] for row in column_rows if row["drifted"] is not None]
    share = sum(bool(flag) for flag in tested) / len(tested) if tested else None
    return {
        "column": DATASET_COLUMN,
        "method": SHARE_METHOD,
        "statistic": share,
        "p_value": None,
        "threshold": share_threshold,
        "drifted": None if share is None else share >= share_threshold,
        "psi": None,
    }


def _dates(current: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(current["date"]).dt.date


def compute_drift(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    model: ModelConfig,
    reference_kind: str,
) -> pd.DataFrame:
    """Rows of the `drift` table for every date in `current`, each date tested on its own.

    For ks/chisquare/z, `statistic` is the test statistic as SciPy gives it (KS D, chi-square,
    signed z) and `p_value` its p-value, which `threshold` applies to (BH-adjusted when
    `drift.multiple_testing` is on); for distances `statistic` is the distance `threshold`
    applies to and `p_value` is NULL. `drifted` and thresholds follow Evidently, so its drift
    score is `p_value` or `statistic` respectively. A column empty on either side gets NULL
    statistic, p_value and `drifted`, and does not count in the dataset share.
    """
    if profile.model_id != model.model_id:
        raise ValueError(
            f"reference profile of model {profile.model_id!r} used for model {model.model_id!r}"
        )
    columns = drift_columns(model, has_score="score" in profile.columns or "score" in current)
    rows: list[dict[str, object]] = []
    if len(current):
        for day, frame in current.groupby(_dates(current), sort=True):
            for row in _day_rows(profile, frame, columns, model):
                rows.append(
                    {
                        "model_id": model.model_id,
                        "date": _as_date(day),
                        "reference_kind": reference_kind,
                        **row,
                    }
                )
    table = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    return table.astype(_DTYPES)


def _as_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()
