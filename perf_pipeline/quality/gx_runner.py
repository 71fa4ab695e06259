"""Run a generated suite with Great Expectations 1.x and flatten the results into table rows.

Great Expectations is imported here, inside the functions, never at module import: the Dagster
code location must load fast, and most processes that import this package never validate.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from perf_pipeline.quality.suite import ExpectationSpec

SAMPLE_VALUES = 5
# BASIC carries everything a row needs (observed value, unexpected and element counts, the first
# unexpected values); SUMMARY would add the unexpected rows' index list and value counts, extra
# metrics computed over the whole day and never read.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_VALUES}
# Days of at least this many rows are validated in `SPLIT_PARTS` batches (see `column_groups`).
SPLIT_ROWS = 100_000
SPLIT_PARTS = 4
# Built-in checks of one column whose outcome depends on that column and the row count alone.
_COLUMN_ONLY = frozenset(
    {
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeUnique",
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValuesToBeInSet",
    }
)


@dataclass(frozen=True)
class ExpectationOutcome:
    spec: ExpectationSpec
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    element_count: int | None
    sample_values: list[Any]


class SuiteRunner:
    """One ephemeral Great Expectations context, reused for every day of a run."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self._context.data_sources.add_pandas("perf_pipeline")
        self._batch_definition = source.add_dataframe_asset(
            "day"
        ).add_batch_definition_whole_dataframe("whole_day")
        self._suites: dict[tuple, Any] = {}

    def _suite(self, specs: list[ExpectationSpec]):
        """The suite of `specs`, built once per run: a backfill validates the same specs every
        day, and building the expectations (pydantic models) is a share of each day's cost."""
        key = tuple(
            (s.gx_type, s.name, json.dumps(s.kwargs, sort_keys=True, default=repr)) for s in specs
        )
        if key not in self._suites:
            suite = self._gx.ExpectationSuite(name="perf_pipeline_day")
            for spec in specs:
                expectation_class = getattr(self._gx.expectations, spec.gx_type)
                suite.add_expectation(expectation_class(**spec.kwargs, meta={"name": spec.name}))
            self._suites[key] = suite
        return self._suites[key]

    def validate(
        self, frame: pd.DataFrame, specs: list[ExpectationSpec]
    ) -> list[ExpectationOutcome]:
        # Only validate the columns the suite names: a spec for an absent column would fail with
        # a Great Expectations error instead of saying which column is missing.
        runnable = [s for s in specs if s.column is None or s.column in frame.columns]
        outcomes = [
            ExpectationOutcome(s, False, "column missing", None, None, [])
            for s in specs
            if s not in runnable
        ]
        for columns, group in column_groups(frame, runnable):
            outcomes += self._validate_batch(frame if columns is None else frame[columns], group)
        order = {s.name: i for i, s in enumerate(specs)}
        return sorted(outcomes, key=lambda o: order[o.spec.name])

    def _validate_batch(
        self, frame: pd.DataFrame, specs: list[ExpectationSpec]
    ) -> list[ExpectationOutcome]:
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self._suite(specs), result_format=dict(RESULT_FORMAT))
        by_name = {s.name: s for s in specs}
        outcomes = []
        for item in result.results:
            details = item.result or {}
            outcomes.append(
                ExpectationOutcome(
                    spec=by_name[item.expectation_config.meta["name"]],
                    success=bool(item.success),
                    observed_value=_raised(item.exception_info) or _observed(details),
                    unexpected_count=details.get("unexpected_count"),
                    element_count=details.get("element_count"),
                    sample_values=[_plain(v) for v in details.get("partial_unexpected_list") or []],
                )
            )
        return outcomes


def column_groups(
    frame: pd.DataFrame, specs: list[ExpectationSpec]
) -> list[tuple[list[str] | None, list[ExpectationSpec]]]:
    """The batches to validate `specs` in: (columns, specs), None meaning the whole frame.

    Great Expectations' pandas engine filters the whole frame for each column check (its null
    filter copies every column), so on a long day the copies grow with the frame's width. Such a
    day's single-column checks of the generated suite are validated in `SPLIT_PARTS` batches of
    a few columns each; everything else (table checks, the models file's own expectations, which
    may read any column) sees the whole frame. A check reads only its column and the row count,
    so its outcome is the same in either batch. Short days stay one batch: the extra batches
    would cost more than the copies they save.
    """
    if len(frame) < SPLIT_ROWS:
        return [(None, specs)]
    whole = [s for s in specs if s.gx_type not in _COLUMN_ONLY or s.columns != [s.column]]
    whole += [s for s in specs if "row_condition" in s.kwargs and s not in whole]
    split = [s for s in specs if s not in whole]
    parts: list[tuple[list[str], list[ExpectationSpec]]] = [([], []) for _ in range(SPLIT_PARTS)]
    for column in dict.fromkeys(s.column for s in split):
        columns, group = parts[_lightest(parts)]
        columns.append(column)
        group += [s for s in split if s.column == column]
    batches: list[tuple[list[str] | None, list[ExpectationSpec]]] = [(None, whole)] if whole else []
    return batches + [(columns, group) for columns, group in parts if group]


def _lightest(parts: list[tuple[list[str], list[ExpectationSpec]]]) -> int:
    return min(range(len(parts)), key=lambda i: len(parts[i][0]))


def _observed(details: dict[str, Any]) -> str | None:
    if "observed_value" in details:
        return json.dumps(_plain(details["observed_value"]))
    if "unexpected_percent" in details and details["unexpected_percent"] is not None:
        return f"{details['unexpected_percent']:.4g}% unexpected"
    return None


def _raised(info: Any) -> str | None:
    """The message of an exception Great Expectations caught while evaluating an expectation
    (a custom expectation on a column of the wrong type, say), so the row says why it failed.
    GX reports it either flat or keyed by the metric that raised."""
    if not isinstance(info, dict):
        return None
    entries = [info, *(v for v in info.values() if isinstance(v, dict))]
    for entry in entries:
        if entry.get("raised_exception"):
            return f"error: {entry.get('exception_message')}"
    return None


def _plain(value: Any) -> Any:
    """JSON-safe values: NaN becomes null, numpy scalars become Python numbers, pairs lists."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
