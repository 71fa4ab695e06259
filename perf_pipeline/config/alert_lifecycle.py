"""How a model's alerts live once raised: when an incident counts as over.

A separate module (hung on `ModelConfig.lifecycle`) so the lifecycle's settings sit beside the
code that reads them (`perf_pipeline.alerts.lifecycle`), not among the detection thresholds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlertLifecycleSettings(BaseModel):
    """`lifecycle: {resolve_after_days: 2}` in a model's entry.

    An incident (consecutive breaches of one metric, column or expectation) resolves once the
    pipeline has judged that subject inside its bounds on this many days after its latest
    breach. One clean day is often noise between two bad ones (a flapping metric would page on
    every return); two is the smallest number that tells a recovery from a blip.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolve_after_days: int = Field(
        default=2,
        ge=1,
        le=90,
        description="An open incident resolves after this many judged days inside its bounds "
        "(days with nothing to judge, such as blocked or unlabelled days, do not count).",
    )
