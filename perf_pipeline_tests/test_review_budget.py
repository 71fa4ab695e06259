"""The review budget's split and its settings, as properties over every valid setting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from perf_pipeline.config.review import ReviewSettings
from perf_pipeline.review.budget import split_budget


@st.composite
def settings(draw: st.DrawFn) -> ReviewSettings:
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=2, max_size=2)))
    return ReviewSettings(
        per_day=draw(st.integers(0, 500)),
        least_confident=cuts[0] / 100,
        regressed_segments=(cuts[1] - cuts[0]) / 100,
        uniform=(100 - cuts[1]) / 100,
    )


@given(settings(), st.booleans(), st.booleans(), st.booleans())
def test_the_split_always_spends_the_whole_budget(
    review: ReviewSettings, ranks: bool, segments: bool, drifted: bool
) -> None:
    budget = split_budget(
        review, ranks_confidence=ranks, has_segments=segments, has_drifted=drifted
    )
    parts = [budget.least_confident, budget.segments, budget.drifted, budget.uniform]
    assert budget.total == review.per_day and min(parts) >= 0
    assert ranks or budget.least_confident == 0
    assert segments or budget.segments == 0
    assert drifted or budget.drifted == 0
    if ranks and (segments or drifted):
        # Nothing moved to the uniform draw: each share is within one row of its exact value.
        exact = [review.least_confident, review.regressed_segments, review.uniform]
        counts = [budget.least_confident, budget.segments + budget.drifted, budget.uniform]
        assert all(abs(c - review.per_day * e) < 1 for c, e in zip(counts, exact, strict=True))


def test_the_default_split_of_fifty() -> None:
    budget = split_budget(
        ReviewSettings(), ranks_confidence=True, has_segments=True, has_drifted=True
    )
    assert (budget.least_confident, budget.segments, budget.drifted, budget.uniform) == (
        20,
        10,
        10,
        10,
    )
    without = split_budget(
        ReviewSettings(), ranks_confidence=False, has_segments=False, has_drifted=False
    )
    assert (without.least_confident, without.segments, without.drifted, without.uniform) == (
        0,
        0,
        0,
        50,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"per_day": -1},
        {"uniform": 0.5},
        {"least_confident": 1.2, "regressed_segments": 0, "uniform": -0.2},
        {"per_day": 10, "every_day": True},
    ],
)
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        ReviewSettings(**bad)


def test_zero_turns_the_queue_off() -> None:
    assert not ReviewSettings(per_day=0).enabled
    assert ReviewSettings().enabled
