"""The block at the top of a daily report: which model, which day, compared with what.

Evidently's own page names neither the model nor the day, so a report forwarded on its own
would not say what it is about. The header says it, with the day's full counts (the charts
below may be drawn from a sample) and, for a day with no labels yet, the estimated metrics the
`performance` table holds, so the reader is not left with a drift section alone.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from perf_pipeline.config import ModelConfig
from perf_pipeline.reports.day_data import MAX_ROWS, DayData, Estimate

STYLE = """<style>
.pp-header { font-family: system-ui, sans-serif; margin: 16px 24px; color: #1d2433; }
.pp-header h1 { font-size: 22px; margin: 0 0 6px; }
.pp-header p { margin: 4px 0; font-size: 14px; }
.pp-header table { border-collapse: collapse; margin-top: 6px; font-size: 13px; }
.pp-header td, .pp-header th { border: 1px solid #ccd; padding: 3px 8px; text-align: left; }
.pp-note { background: #fff6e0; border-left: 4px solid #e0a000; padding: 6px 10px; }
</style>"""


def reference_text(model: ModelConfig, day: dt.date, reference_rows: int) -> str:
    """How the day's reference was chosen, in words."""
    if model.reference.source == "file":
        where = f"landing/reference/model={model.model_id}/"
        return f"the reference file set ({where}, {reference_rows:,} rows)"
    days = model.reference.days or 1
    first = day - dt.timedelta(days=days)
    last = day - dt.timedelta(days=1)
    return f"the trailing {days} days {first} to {last} ({reference_rows:,} rows)"


def _format(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def _estimates_table(estimates: list[Estimate]) -> str:
    rows = "".join(
        f"<tr><td>{escape(e.metric)}</td><td>{_format(e.value)}</td>"
        f"<td>{_format(e.ci_low)} &ndash; {_format(e.ci_high)}</td></tr>"
        for e in estimates
    )
    return f"<table><tr><th>metric</th><th>estimated</th><th>95 % interval</th></tr>{rows}</table>"


def quality_note(model: ModelConfig, data: DayData, quality_drawn: str | None) -> str:
    """What the quality section below holds, or why there is none."""
    if quality_drawn is None:
        lines = [
            f"<p class='pp-note'>No quality section: {escape(_why_no_quality(model, data))}. "
            "Estimated performance is in the <code>performance</code> table "
            "(<code>is_estimated = true</code>).</p>"
        ]
        if data.estimates:
            lines.append(_estimates_table(data.estimates))
        return "".join(lines)
    coverage = data.labelled_rows / data.rows if data.rows else 0.0
    return (
        f"<p>{escape(quality_drawn)} on the {data.labelled_rows:,} predictions labelled so far "
        f"({coverage:.0%} of the day); more labels may still arrive.</p>"
    )


def _why_no_quality(model: ModelConfig, data: DayData) -> str:
    if data.labelled_rows == 0:
        return "no labels have arrived for this day yet"
    return f"{model.task.value} has no Evidently quality preset"


def header_html(model: ModelConfig, day: dt.date, data: DayData, quality_drawn: str | None) -> str:
    """The header block (with its own style), placed before Evidently's dashboard."""
    sampled = (
        f" Charts are drawn from a sample of {MAX_ROWS:,} rows per side."
        if max(data.rows, data.reference_rows) > MAX_ROWS
        else ""
    )
    return (
        f"{STYLE}<div class='pp-header'>"
        f"<h1>{escape(model.model_id)} · {day.isoformat()}</h1>"
        f"<p>Model <b>{escape(model.model_id)}</b> ({escape(model.task.value)}), day "
        f"<b>{day.isoformat()}</b> (UTC): {data.rows:,} predictions, compared with "
        f"{escape(reference_text(model, day, data.reference_rows))}.{sampled}</p>"
        f"{quality_note(model, data, quality_drawn)}</div>"
    )
