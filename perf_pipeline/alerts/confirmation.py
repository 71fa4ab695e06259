"""Whether a day's final realized numbers confirmed its `estimated_performance` alerts.

An estimated alert is a forecast: the estimate broke a bound before the labels could say so. It
stays on record with status `open` until the realized metric of its day is settled (final, and
judgeable: defined, on at least `min_labelled_rows` labels), then becomes `confirmed` when the
realized metric breaks a bound too (a `performance` alert on the same day and metric), or
`not_confirmed` when it is within bounds. A day whose labels never came keeps its estimated
alert `open`: nothing can confirm it. The verdict is also appended to the message, after
`VERDICT_SEPARATOR`.

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
    """An alert, its `alerts.status` and its `alerts.root_cause` (JSON; performance kinds)."""

    alert: Alert
    status: str = OPEN
    root_cause: str | None = None


def without_verdict(alert: Alert) -> Alert:
    """The alert as first raised: an earlier run's verdict is judged again, not appended to."""
    return replace(alert, message=alert.message.split(VERDICT_SEPARATOR)[0])


def settle_estimated(
    raised: list[Alert],
    earlier: list[Alert],
    realized: list[Alert],
    performance: pd.DataFrame,
    settled_metrics: set[str],
) -> list[Settled]:
    """The day's estimated alerts (raised now, or earlier and kept), each with its status.

    `realized` are the day's realized alerts of this same evaluation, `performance` its rows
    (for the realized values named in the verdict), `settled_metrics` the metrics whose
    realized value is final and judgeable.
    """
    by_id = {a.alert_id: without_verdict(a) for a in earlier}
    by_id.update({a.alert_id: a for a in raised})
    breaking = {a.metric_or_column for a in realized if a.kind == PERFORMANCE}
    values = _realized_values(performance)
    settled = []
    for alert in by_id.values():
        metric = alert.metric_or_column
        if metric not in settled_metrics or metric not in values:
            settled.append(Settled(alert, OPEN))
            continue
        status = CONFIRMED if metric in breaking else NOT_CONFIRMED
        verdict = _verdict(status, metric, *values[metric])
        settled.append(Settled(replace(alert, message=alert.message + verdict), status))
    return settled


def _realized_values(performance: pd.DataFrame) -> dict[str, tuple[float, int]]:
    overall = performance[
        (performance["segment_column"] == "__all__")
        & ~performance["is_estimated"].fillna(False).astype(bool)
        & performance["value"].notna()
    ]
    return {r.metric: (float(r.value), int(r.n)) for r in overall.itertuples()}


def _verdict(status: str, metric: str, value: float, n: int) -> str:
    said = f"the final realized {metric} = {value:.4g} on {n} labelled rows"
    if status == CONFIRMED:
        return f"{VERDICT_SEPARATOR}confirmed: {said} breaks its bounds too"
    return f"{VERDICT_SEPARATOR}not confirmed: {said} raised no alert"
