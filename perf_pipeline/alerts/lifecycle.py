"""Incidents: the days an alert keeps firing are one problem, paged once and resolved once.

The `alerts` table keeps one row per day a subject (a model's metric, column or expectation,
under one alert kind) breaks its bounds: a day's row has a stable id, so re-running the day
replaces it. A decay that lasts a week is therefore seven rows, and paging on every row would
page seven times for one problem. So rows are grouped into **incidents**:

- the breaches of one (model, kind, metric_or_column) belong to one incident until it ends;
- an incident ends when the subject was judged inside its bounds on `resolve_after_days` days
  after its latest breach (`resolved_by = 'recovery'`), or when a person resolves it
  (`resolved_by = 'hand'`, covering its breaches up to the latest one recorded then);
- a breach after an incident ended opens a new one. Days with nothing to judge (a blocked day,
  a day still waiting for its labels) neither extend nor end an incident, so late labels or a
  broken upstream day never split one problem into two pages;
- its id is the alert id of its first breach day, so it is as stable as the alert ids;
- `status`: `resolved` once ended; else `acknowledged` when a person acknowledged it; else
  `snoozed` while a person's snooze covers its latest breach day; else `open`.

Only the incident's first breach is notified (and a later one whose severity is higher); the
other rows are recorded and listed, but not sent (`perf_pipeline.alerts.delivery`). This module
is the pure grouping, without I/O, so its rules can be tested exhaustively.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
SNOOZED = "snoozed"
RESOLVED = "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, SNOOZED, RESOLVED)
BY_RECOVERY = "recovery"
BY_HAND = "hand"

# `critical` (and `error`, its older name) outranks `warning`; anything else ranks lowest.
_SEVERITY_RANK = {"warning": 0, "critical": 1, "error": 1}


def severity_rank(severity: str | None) -> int:
    return _SEVERITY_RANK.get(str(severity or "").lower(), 0)


@dataclass(frozen=True)
class Breach:
    """One day's alert row of a subject."""

    alert_id: str
    date: dt.date
    severity: str
    first_seen_at: dt.datetime | None
    message: str


@dataclass(frozen=True)
class Decision:
    """A person's latest decision on an incident (a row of `alert_state`)."""

    incident_id: str
    status: str
    snoozed_until: dt.date | None = None
    resolved_through: dt.date | None = None
    note: str | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Incident:
    model_id: str
    kind: str
    metric_or_column: str
    members: tuple[Breach, ...]
    status: str
    decision: Decision | None = None
    resolved_on: dt.date | None = None
    resolved_by: str | None = None

    @property
    def incident_id(self) -> str:
        return self.members[0].alert_id

    @property
    def member_ids(self) -> frozenset[str]:
        return frozenset(m.alert_id for m in self.members)

    @property
    def first_date(self) -> dt.date:
        return self.members[0].date

    @property
    def last_date(self) -> dt.date:
        return self.members[-1].date

    @property
    def severity(self) -> str:
        return max(self.members, key=lambda m: severity_rank(m.severity)).severity

    @property
    def first_seen_at(self) -> dt.datetime | None:
        return min((m.first_seen_at for m in self.members if m.first_seen_at), default=None)

    @property
    def last_seen_at(self) -> dt.datetime | None:
        """When the latest breach day was first recorded: it advances with each new day."""
        return max((m.first_seen_at for m in self.members if m.first_seen_at), default=None)

    @property
    def snoozed_until(self) -> dt.date | None:
        d = self.decision
        return d.snoozed_until if d is not None and d.status == SNOOZED else None


def _decision_for(ids: Iterable[str], decisions: Sequence[Decision]) -> Decision | None:
    """The latest decision taken on any of these alert ids (an incident's id may change when
    an earlier day joins it, so a decision follows the member it was taken on)."""
    wanted = set(ids)
    mine = [d for d in decisions if d.incident_id in wanted]
    stamp = dt.datetime.min.replace(tzinfo=dt.UTC)
    return max(mine, key=lambda d: d.updated_at or stamp, default=None)


def _ends_before(
    group: list[Breach],
    day: dt.date,
    clean: Sequence[dt.date],
    n: int,
    decisions: Sequence[Decision],
) -> bool:
    """Whether the incident `group` ended before a breach on `day` could join it."""
    last = group[-1].date
    if sum(1 for c in clean if last < c < day) >= n:
        return True
    decision = _decision_for((b.alert_id for b in group), decisions)
    return (
        decision is not None
        and decision.status == RESOLVED
        and decision.resolved_through is not None
        and decision.resolved_through < day
    )


def group_breaches(
    breaches: Sequence[Breach],
    judged_days: Iterable[dt.date],
    resolve_after_days: int,
    decisions: Sequence[Decision] = (),
) -> list[list[Breach]]:
    """The breaches of one subject, split into incidents (in day order)."""
    ordered = sorted(breaches, key=lambda b: b.date)
    breach_days = {b.date for b in ordered}
    clean = sorted(set(judged_days) - breach_days)
    groups: list[list[Breach]] = []
    for breach in ordered:
        if groups and not _ends_before(
            groups[-1], breach.date, clean, resolve_after_days, decisions
        ):
            groups[-1].append(breach)
        else:
            groups.append([breach])
    return groups


def _settle(
    subject: tuple[str, str, str],
    group: list[Breach],
    clean_after: list[dt.date],
    resolve_after_days: int,
    decisions: Sequence[Decision],
) -> Incident:
    decision = _decision_for((b.alert_id for b in group), decisions)
    members = tuple(group)
    if decision is not None and decision.status == RESOLVED:
        on = decision.updated_at.date() if decision.updated_at else None
        return Incident(*subject, members, RESOLVED, decision, on, BY_HAND)
    if len(clean_after) >= resolve_after_days:
        on = clean_after[resolve_after_days - 1]
        return Incident(*subject, members, RESOLVED, decision, on, BY_RECOVERY)
    status = OPEN
    if decision is not None and decision.status == ACKNOWLEDGED:
        status = ACKNOWLEDGED
    elif decision is not None and decision.status == SNOOZED and decision.snoozed_until:
        status = SNOOZED if group[-1].date <= decision.snoozed_until else OPEN
    return Incident(*subject, members, status, decision)


def incidents_of(
    subject: tuple[str, str, str],
    breaches: Sequence[Breach],
    judged_days: Iterable[dt.date],
    resolve_after_days: int,
    decisions: Sequence[Decision] = (),
) -> list[Incident]:
    """The incidents of one (model_id, kind, metric_or_column), each with its status.

    `judged_days` are the days the subject was judged at all (breached or not); a judged day
    without a breach is a clean day.
    """
    judged = set(judged_days)
    groups = group_breaches(breaches, judged, resolve_after_days, decisions)
    clean = sorted(judged - {b.date for b in breaches})
    incidents = []
    for position, group in enumerate(groups):
        until = groups[position + 1][0].date if position + 1 < len(groups) else dt.date.max
        after = [c for c in clean if group[-1].date < c < until]
        incidents.append(_settle(subject, group, after, resolve_after_days, decisions))
    return incidents
