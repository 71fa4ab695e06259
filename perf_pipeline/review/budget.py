"""How a day's review budget is split between the strata.

The shares of `review:` are turned into whole rows by the largest-remainder rule, so the
counts always add up to `per_day`. A stratum that cannot pick anything on a day gives its rows
to the uniform draw: a regression or ranking model has no confidence of its own to rank by, and
a day without a regressed segment or a drifted feature has no rows to point at. The uniform
stratum is the one that makes the review accuracy unbiased, so it is where spare rows do most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perf_pipeline.config.review import ReviewSettings


@dataclass(frozen=True)
class Budget:
    """Rows of one day per stratum."""

    least_confident: int
    segments: int
    drifted: int
    uniform: int

    @property
    def total(self) -> int:
        return self.least_confident + self.segments + self.drifted + self.uniform


def _whole_rows(total: int, shares: list[float]) -> list[int]:
    """`shares` of `total` as whole numbers adding up to `total` (largest remainder first)."""
    exact = [total * s for s in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def split_budget(
    settings: ReviewSettings, *, ranks_confidence: bool, has_segments: bool, has_drifted: bool
) -> Budget:
    """One day's rows per stratum. The regressed share is halved between segment rows and
    drifted-feature rows when the day has both (the segment half gets the odd row)."""
    confident, regressed, uniform = _whole_rows(
        settings.per_day,
        [settings.least_confident, settings.regressed_segments, settings.uniform],
    )
    if not ranks_confidence:
        uniform, confident = uniform + confident, 0
    if has_segments and has_drifted:
        segments, drifted = math.ceil(regressed / 2), regressed // 2
    elif has_segments:
        segments, drifted = regressed, 0
    elif has_drifted:
        segments, drifted = 0, regressed
    else:
        segments, drifted, uniform = 0, 0, uniform + regressed
    return Budget(confident, segments, drifted, uniform)
