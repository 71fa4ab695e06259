"""The words of a notification, shared by every channel: short, and saying where to look.

One alert reads as what broke (model, day, metric, value against its bound and baseline), why
it may have (the alert's `root_cause`, when the alert carries one) and where to look (the day's
report, the Dagster run). Many alerts at once (a backfill's digest) read as one message grouped
by model, a few lines each and "and K more": a digest that scrolls for pages is not read.

Channels turn a `Message` into their own shape: plain text (webhook, e-mail, Slack's fallback),
HTML (e-mail) or Slack blocks.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perf_pipeline.alerts.channel_filter import CRITICAL, severity_rank
from perf_pipeline.paths import DataPaths

PRODUCT = "[perf_pipeline]"
DIGEST_LINES_PER_MODEL = 5
ROOT_CAUSE_ITEMS = 3
DATASET_DRIFT = "__dataset__"
# `alerts.root_cause` (perf_pipeline.alerts.root_cause): items name a column, a segment or an
# expectation, with PSI, a value and n, or an observed value. Other shapes are shown as found.
_NAME_KEYS = ("expectation", "column", "feature", "name", "segment", "metric")
_NUMBER_KEYS = ("psi", "score", "value", "statistic")
# Where an alert's message starts repeating its root cause in one line (root_cause.py).
ROOT_CAUSE_TAIL = " | root cause: "

Alert = Mapping[str, Any]


@dataclass(frozen=True)
class Section:
    heading: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    """`subject`: the e-mail subject; `title`: the first line everywhere else."""

    subject: str
    title: str
    sections: tuple[Section, ...]
    is_digest: bool

    def text(self) -> str:
        out = [self.title]
        for section in self.sections:
            if section.heading is None:
                out += list(section.lines)
            else:
                out += [f"{section.heading}:", *(f"  - {line}" for line in section.lines)]
        return "\n".join(out)

    def html(self) -> str:
        out = [f"<p><strong>{html.escape(self.title)}</strong></p>"]
        for section in self.sections:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in section.lines)
            if section.heading is None:
                out.append("".join(f"<p>{html.escape(line)}</p>" for line in section.lines))
            else:
                out.append(
                    f"<p><strong>{html.escape(section.heading)}</strong></p><ul>{items}</ul>"
                )
        return "<html><body>" + "".join(out) + "</body></html>"


def compose(alerts: Sequence[Alert], paths: DataPaths, digest: bool = False) -> Message:
    """One alert's message, or the digest of several. A backfill's digest may hold a single
    alert (`digest=True`): it still reads as the digest of its run."""
    if not alerts:
        raise ValueError("no alerts to compose a message from")
    if len(alerts) == 1 and not digest:
        return alert_message(alerts[0], paths)
    return digest_message(alerts, paths)


def subject_of(alert: Alert) -> str:
    """What the alert is about: the metric, the expectation, or the dataset's drift share."""
    subject = str(alert.get("metric_or_column") or alert.get("kind") or "alert")
    return "share of drifted columns" if subject == DATASET_DRIFT else subject


def measure(alert: Alert) -> str:
    """`roc_auc = 0.612 (bound 0.75, baseline 0.912)`, leaving out what the alert lacks."""
    value, bound, baseline = (_number(alert.get(k)) for k in ("value", "threshold", "baseline"))
    said = subject_of(alert) + (f" = {value:.4g}" if value is not None else "")
    beside = [f"bound {bound:.4g}"] if bound is not None else []
    beside += [f"baseline {baseline:.4g}"] if baseline is not None else []
    return said + (f" ({', '.join(beside)})" if beside else "")


def alert_message(alert: Alert, paths: DataPaths) -> Message:
    model, day, severity = alert.get("model_id"), _day(alert), alert.get("severity") or CRITICAL
    kind = str(alert.get("kind") or "alert").replace("_", " ")
    said = [_own_message(alert), _incident(alert)]
    sections = [Section(None, tuple(line for line in said if line))]
    cause = root_cause_lines(alert.get("root_cause"))
    if cause:
        sections.append(Section("Root cause", tuple(cause)))
    sections.append(Section("Where to look", tuple(_where_to_look(alert, paths))))
    return Message(
        subject=f"{PRODUCT} {severity} {model} {subject_of(alert)} {day}",
        title=f"[{severity}] {model} {day}: {kind} {measure(alert)}",
        sections=tuple(sections),
        is_digest=False,
    )


def digest_message(
    alerts: Sequence[Alert], paths: DataPaths, per_model: int = DIGEST_LINES_PER_MODEL
) -> Message:
    """One message for many alerts: grouped by model, the worst first, `per_model` lines each."""
    by_model: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_model.setdefault(str(alert.get("model_id")), []).append(alert)
    days = sorted(_day(a) for a in alerts)
    span = days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"
    critical = sum(1 for a in alerts if _is_critical(a))
    counted = _alerts_count(len(alerts)) + (f" ({critical} critical)" if critical else "")
    sections = [
        _model_section(model, group, per_model) for model, group in sorted(by_model.items())
    ]
    looks = [f"{m} reports: {paths.reports / m}/<day>.html" for m in sorted(by_model)]
    runs = sorted({str(a["run_id"]) for a in alerts if a.get("run_id")})
    looks += [f"Dagster run: {run}" for run in runs]
    sections.append(Section("Where to look", tuple(looks)))
    return Message(
        subject=f"{PRODUCT} digest: {counted} for {', '.join(sorted(by_model))}, {span}",
        title=f"{counted}, {span}: "
        + ", ".join(f"{m} {len(g)}" for m, g in sorted(by_model.items())),
        sections=tuple(sections),
        is_digest=True,
    )


def _model_section(model: str, alerts: list[Alert], per_model: int) -> Section:
    ordered = sorted(
        alerts, key=lambda a: (-severity_rank(a.get("severity")), _day(a), subject_of(a))
    )
    lines = [
        f"{_day(a)} {a.get('severity') or CRITICAL} {a.get('kind')} {measure(a)}"
        for a in ordered[:per_model]
    ]
    if len(ordered) > per_model:
        lines.append(f"and {len(ordered) - per_model} more")
    critical = sum(1 for a in alerts if _is_critical(a))
    return Section(f"{model}: {_alerts_count(len(alerts))}, {critical} critical", tuple(lines))


def _own_message(alert: Alert) -> str:
    """The alert's message without the root-cause tail it may carry (shown as its own part)."""
    message = str(alert.get("message") or "")
    if alert.get("root_cause"):
        message = message.split(ROOT_CAUSE_TAIL)[0]
    return message


def _incident(alert: Alert) -> str:
    """`day 4 of an incident since 2026-09-01`, when the alert continues an earlier breach."""
    first, days = alert.get("incident_first_date"), _number(alert.get("incident_breach_days"))
    if not first or days is None or days < 2:
        return ""
    return f"day {int(days)} of an incident since {str(first)[:10]}"


def root_cause_lines(raw: object) -> list[str]:
    """The alert's `root_cause` (JSON text or already parsed) as a few readable lines.

    Any shape is tolerated: a mapping gives one line per key (`most_drifted_features: ...`),
    each listing its first items by name and number; a missing or empty value gives none.
    """
    data = _parsed(raw)
    if not data:
        return []
    if isinstance(data, Mapping):
        return [
            f"{str(key).replace('_', ' ')}: {_items(value)}"
            for key, value in data.items()
            if value not in (None, [], {}, "")
        ]
    return [_items(data)]


def _parsed(raw: object) -> object:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw.strip()
    return raw


def _items(value: object) -> str:
    if not isinstance(value, list):
        return _item(value)
    shown = ", ".join(_item(v) for v in value[:ROOT_CAUSE_ITEMS])
    more = len(value) - ROOT_CAUSE_ITEMS
    return shown + (f" and {more} more" if more > 0 else "")


def _item(value: object) -> str:
    """`amount psi 0.31`, `channel=web 0.55 (n=1200)`, or the value itself."""
    if not isinstance(value, Mapping):
        number = _number(value)
        return f"{number:.4g}" if number is not None and not isinstance(value, str) else str(value)
    if "segment_column" in value and "segment_value" in value:
        name = f"{value['segment_column']}={value['segment_value']}"
    else:
        name = next((str(value[k]) for k in _NAME_KEYS if value.get(k) is not None), "")
    key = next((k for k in _NUMBER_KEYS if _number(value.get(k)) is not None), None)
    if key is not None:
        number = f"{_number(value[key]):.3g}"
        name += f" {key} {number}" if key in ("psi", "statistic") else f" {number}"
    details = [f"n={int(value['n'])}"] if _number(value.get("n")) is not None else []
    if value.get("observed_value") not in (None, ""):
        details.append(f"observed {value['observed_value']}")
    said = (name + (f" ({', '.join(details)})" if details else "")).strip()
    return said or json.dumps(dict(value), default=str, sort_keys=True)


def _where_to_look(alert: Alert, paths: DataPaths) -> list[str]:
    lines = []
    report = _report(alert, paths)
    if report:
        lines.append(report)
    if alert.get("run_id"):
        lines.append(f"Dagster run: {alert['run_id']}")
    if alert.get("alert_id"):
        lines.append(f"alert id: {alert['alert_id']}")
    return lines


def _report(alert: Alert, paths: DataPaths) -> str | None:
    try:
        day = dt.date.fromisoformat(_day(alert))
    except ValueError:
        return None
    path = paths.report_file(str(alert.get("model_id")), day)
    return f"report: {path}" + ("" if path.exists() else " (none written for this day)")


def _day(alert: Alert) -> str:
    return str(alert.get("date") or "")[:10]


def _alerts_count(n: int) -> str:
    return f"{n} alert" if n == 1 else f"{n} alerts"


def _is_critical(alert: Alert) -> bool:
    return severity_rank(alert.get("severity")) >= severity_rank(CRITICAL)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: missing
