"""A long day is validated in a few batches of a few columns each; every outcome, samples
included, must be the one validating the whole frame in one batch gives, and checks that read
the table (its row count, its columns) must still see the whole frame.

Real Great Expectations on a frame just long enough to be split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perf_pipeline.quality.gx_runner import (
    SPLIT_PARTS,
    SPLIT_ROWS,
    SuiteRunner,
    column_groups,
)
from perf_pipeline.quality.suite import ExpectationSpec, ReferenceStats, build_suite
from perf_pipeline_tests.test_gate_day_frame import MODEL


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    ids = np.arange(rows)
    ids[7], ids[rows - 1] = ids[3], ids[4]  # two duplicated ids
    amount = rng.normal(100, 30, rows)
    amount[::997] = np.nan
    scores = rng.dirichlet([1, 1, 1], rows)
    return pd.DataFrame(
        {
            "prediction_id": ids,
            "amount": amount,
            "channel": pd.Categorical(rng.choice(["web", "app", "shop", None], rows)),
            "prediction": pd.Categorical(rng.choice(["a", "b", "c", "d"], rows)),
            "score_a": scores[:, 0],
            "score_b": scores[:, 1] * 1.01,
            "score_c": scores[:, 2],
            "__score_sum": scores.sum(axis=1),
        }
    )


def _specs() -> list[ExpectationSpec]:
    reference = ReferenceStats(
        rows=100,
        null_rate={"amount": 0.0, "channel": 0.0},
        minimum={"amount": 50.0},
        maximum={"amount": 150.0},
        categories={"channel": ["app", "web"]},
    )
    table = [
        ExpectationSpec("ExpectTableColumnCountToEqual", {"value": 8}, "error", "width"),
        ExpectationSpec(
            "ExpectColumnValuesToBeBetween",
            {
                "column": "amount",
                "min_value": 0,
                "max_value": 120,
                "row_condition": "channel=='web'",
                "condition_parser": "pandas",
            },
            "warning",
            "web_amount",
        ),
    ]
    return [*build_suite(MODEL, reference), *table]


@pytest.fixture(scope="module")
def runner() -> SuiteRunner:
    return SuiteRunner()


def test_a_long_day_is_split_and_the_table_checks_see_the_whole_frame() -> None:
    frame, specs = _frame(SPLIT_ROWS), _specs()
    groups = column_groups(frame, specs)
    assert len(groups) == SPLIT_PARTS + 1
    whole = {s.name for columns, group in groups if columns is None for s in group}
    assert whole == {"logs_present", "width", "web_amount"}
    assert sorted(s.name for _, group in groups for s in group) == sorted(s.name for s in specs)
    assert column_groups(frame.head(SPLIT_ROWS - 1), specs) == [(None, specs)]


def test_split_outcomes_are_those_of_one_batch(runner: SuiteRunner) -> None:
    frame, specs = _frame(SPLIT_ROWS), _specs()
    split = runner.validate(frame, specs)
    single = runner._validate_batch(frame, specs)
    by_name = {o.spec.name: o for o in single}
    assert [o.spec.name for o in split] == [s.name for s in specs]
    assert split == [by_name[o.spec.name] for o in split]
    # The checks found something to agree on, and the table checks saw every column.
    failed = {o.spec.name for o in split if not o.success}
    assert failed == {
        "prediction_id_unique",
        "score_b_is_probability",
        "prediction_in_classes",
        "channel_null_rate",
        "amount_in_reference_range",
        "channel_in_reference_categories",
        "web_amount",
    }
    assert by_name["prediction_id_unique"].sample_values == [3, 4, 3, 4]
    assert by_name["width"].observed_value == "8"
