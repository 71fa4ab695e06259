"""`review:` in a model's entry: the daily budget of predictions a person is asked to label.

The budget is shared between three strata, given as shares of `per_day`:

- `least_confident`: the rows the model was least sure of (where a person's label teaches most);
- `regressed_segments`: rows of the day's worst segments and rows whose drifted features are
  most extreme (where a regression is most likely to show);
- `uniform`: a seeded simple random sample of the whole day, the only stratum whose labels give
  an unbiased accuracy estimate (`review_accuracy`).

`per_day: 0` turns the review queue off for the model.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Shares are decimals a person writes (0.4, 0.4, 0.2): they need only add up to 1 closely.
_SHARE_TOLERANCE = 1e-6


class ReviewSettings(BaseModel):
    """The review queue of one model: how many rows a day, split how, drawn with which seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_day: int = Field(
        default=50,
        ge=0,
        le=100_000,
        description="Rows a day asked for review; 0 turns the review queue off.",
    )
    least_confident: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Share of the budget for the least confident predictions (classifiers).",
    )
    regressed_segments: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Share for rows of the day's worst segments and with the most extreme "
        "values of drifted features.",
    )
    uniform: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Share for a seeded uniform random sample of the day: the rows behind the "
        "unbiased review accuracy.",
    )
    seed: int = Field(
        default=0,
        description="Seed of the random draws; a model and day always draw the same rows "
        "for the same seed and predictions.",
    )

    @model_validator(mode="after")
    def _shares_add_up(self) -> ReviewSettings:
        total = self.least_confident + self.regressed_segments + self.uniform
        if not math.isclose(total, 1.0, abs_tol=_SHARE_TOLERANCE):
            raise ValueError(
                "review shares least_confident + regressed_segments + uniform must add up to 1, "
                f"not {total:g}"
            )
        return self

    @property
    def enabled(self) -> bool:
        return self.per_day > 0
