"""`reports/index.html`: every model of the models file with its current state and a link."""

from __future__ import annotations

import datetime as dt

from perf_pipeline.dashboard.html_parts import STYLE, esc, fmt_number, table
from perf_pipeline.dashboard.summary import ModelSummary, sparkline


def _metrics_cell(summary: ModelSummary) -> str:
    lines = []
    for s in summary.metrics:
        final = f"{fmt_number(s.final.value)} on {s.final.day}" if s.final else "no final value yet"
        lines.append(
            f'<span class="state {s.state}">{s.state}</span> {esc(s.metric)}: {final} '
            f"(bound {esc(s.bound.describe())}) "
            f'<span style="font-family:monospace">{esc(sparkline(s.trend))}</span>'
        )
    return "<br>".join(lines) or "-"


def index_page(summaries: list[ModelSummary]) -> str:
    rows = [
        [
            f'<a href="{esc(s.model_id)}/index.html">{esc(s.model_id)}</a>',
            f'<span class="state {s.state.replace(" ", "_")}">{esc(s.state)}</span>',
            esc(s.latest_day or "-"),
            _metrics_cell(s),
            f"{len(s.open_alerts):,}",
        ]
        for s in summaries
    ]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    models_table = table(
        ["model", "state", "latest day", "latest final value of each metric", "open alerts"],
        rows,
        numeric={4},
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Model performance: all models</title><style>{STYLE}</style></head><body>
<h1>Model performance</h1>
<p class=sub>generated {generated}. ALERT: a metric's latest final value (or a later estimate)
is outside its bound, or an alert is open on the model's latest day. Open a model for its
history.</p>
{models_table}
</body></html>
"""
