"""`reports/index.html`: every model of the models file with its current state and a link."""

from __future__ import annotations

import datetime as dt

from perf_pipeline.dashboard.html_parts import STYLE, esc, fmt_number, table


def _state(state: str) -> str:
    return f'<span class="state {esc(state.replace(" ", "_"))}">{esc(state)}</span>'


def _metrics_cell(entry: dict) -> str:
    lines = []
    for m in entry.get("metrics", []):
        final = m.get("final")
        value = f"{fmt_number(final[0])} on {esc(final[1])}" if final else "no final value yet"
        lines.append(
            f"{_state(m['state'])} {esc(m['metric'])}: {value} (bound {esc(m['bound'])}) "
            f'<span style="font-family:monospace">{esc(m["trend"])}</span>'
        )
    return "<br>".join(lines) or "-"


def index_page(entries: list[dict]) -> str:
    """`entries`: `perf_pipeline.dashboard.summary.index_entry` of each model."""
    rows = [
        [
            f'<a href="{esc(e["model_id"])}/index.html">{esc(e["model_id"])}</a>',
            _state(e["state"]),
            esc(e.get("latest_day") or "-"),
            _metrics_cell(e),
            f"{int(e.get('open_alerts', 0)):,}",
        ]
        for e in entries
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
