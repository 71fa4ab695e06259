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

    def _suite(self, specs: list[ExpectationSpec]):
        suite = self._gx.ExpectationSuite(name="perf_pipeline_day")
        for spec in specs:
            expectation_class = getattr(self._gx.expectations, spec.gx_type)
            suite.add_expectation(expectation_class(**spec.kwargs, meta={"name": spec.name}))
        return suite

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
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            self._suite(runnable),
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES},
        )
        by_name = {s.name: s for s in runnable}
        for item in result.results:
            spec = by_name[item.expectation_config.meta["name"]]
            details = item.result or {}
            outcomes.append(
                ExpectationOutcome(
                    spec=spec,
                    success=bool(item.success),
                    observed_value=_raised(item.exception_info) or _observed(details),
                    unexpected_count=details.get("unexpected_count"),
                    element_count=details.get("element_count"),
                    sample_values=[_plain(v) for v in details.get("partial_unexpected_list") or []],
                )
            )
        order = {s.name: i for i, s in enumerate(specs)}
        return sorted(outcomes, key=lambda o: order[o.spec.name])


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
