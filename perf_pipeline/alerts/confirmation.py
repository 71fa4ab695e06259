"""Whether a day's final realized numbers confirmed its `estimated_performance` alerts.

An estimated alert is a forecast: the estimate broke a bound before the labels could say so. It
stays on record with status `open` until the day's realized numbers are final, then becomes
`confirmed` when the realized metric breaks a bound too (a `performance` alert on the same day and
metric), or `not_confirmed` when the final realized value is within bounds or cannot be judged
(undefined, or fewer than `min_labelled_rows` labels). The verdict is also appended to the
message, after `VERDICT_SEPARATOR`.

An estimated alert raised earlier is kept when a later run's estimate no longer breaks the bound
(the estimate then covers only the rows still unlabelled): it was sent, and whether it was right
is for the realized numbers to say. Its id is stable (model, day, kind, metric), so keeping or
re-raising it never sends it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from perf_pipeline.alerts.records import Alert
from perf_pipeline.alerts.regressions import PERFORMANCE

if TYPE_CHECKING:
    import pandas as pd

OPEN = "open"
CONFIRMED = "confirmed"
NOT_CONFIRMED = "not_confirmed"
VERDICT_SEPARATOR = " => "


@dataclass(frozen=True)
class Settled:
    """An alert and its `alerts.status`."""

    alert: Alert
    status: str = OPEN


def without_verdict(alert: Alert) -> Alert:
    """The alert as first raised: an earlier run's verdict is judged again, not appended to."""
    return replace(alert, message=alert.message.split(VERDICT_SEPARATOR)[0])


def settle_estimated(
    raised: list[Alert],
    earlier: list[Alert],
    realized: list[Alert],
    performance: pd.DataFrame,
    day_final: bool,
) -> list[Settled]:
    """The day's estimated alerts (raised now, or earlier and kept), each with its status.

    `realized` are the day's realized alerts of this same evaluation; `performance` its rows
    (for the realized values named in the verdict).
    """
    by_id = {a.alert_id: without_verdict(a) for a in earlier}
    by_id.update({a.alert_id: a for a in raised})
    if not day_final:
        return [Settled(a, OPEN) for a in by_id.values()]
    breaking = {a.metric_or_column for a in realized if a.kind == PERFORMANCE}
    values = _realized_values(performance)
    settled = []
    for alert in by_id.values():
        status = CONFIRMED if alert.metric_or_column in breaking else NOT_CONFIRMED
        verdict = _verdict(status, alert.metric_or_column, values.get(alert.metric_or_column))
        settled.append(Settled(replace(alert, message=alert.message + verdict), status))
    return settled


def _realized_values(performance: pd.DataFrame) -> dict[str, tuple[float, int]]:
    overall = performance[
        (performance["segment_column"] == "__all__")
        & ~performance["is_estimated"].fillna(False).astype(bool)
        & performance["value"].notna()
    ]
    return {r.metric: (float(r.value), int(r.n)) for r in overall.itertuples()}


def _verdict(status: str, metric: str, realized: tuple[float, int] | None) -> str:
    if realized is None:
        return f"{VERDICT_SEPARATOR}not confirmed: no final realized {metric} to judge"
    value, n = realized
    said = f"the final realized {metric} = {value:.4g} on {n} labelled rows"
    if status == CONFIRMED:
        return f"{VERDICT_SEPARATOR}confirmed: {said} breaks its bounds too"
    return f"{VERDICT_SEPARATOR}not confirmed: {said} raised no alert"
