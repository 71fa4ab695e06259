"""A model's dashboard page: summary, timeline, drift heatmap, alerts, segments, day links."""

from __future__ import annotations

import datetime as dt
import itertools

from perf_pipeline.dashboard.bounds import higher_is_better
from perf_pipeline.dashboard.bundle import LOADER_JS, plotly_bundle_gzip_base64
from perf_pipeline.dashboard.figures import drift_heatmap, timeline_figure
from perf_pipeline.dashboard.html_parts import STYLE, esc, fmt_number, json_script, table
from perf_pipeline.dashboard.queries import DashboardData
from perf_pipeline.dashboard.summary import MetricSummary, ModelSummary, Point, sparkline

OPEN_ALERTS_SHOWN = 50
SEGMENTS_SHOWN = 10

RENDER_JS = """
(async () => {
  const figures = JSON.parse(document.getElementById("figures").textContent);
  try {
    await loadPlotly(document.getElementById("plotly-gz").textContent);
  } catch (error) {
    document.getElementById("charts-error").textContent = "Charts unavailable: " + error.message;
    return;
  }
  const config = {responsive: true, displaylogo: false};
  for (const [id, figure] of Object.entries(figures)) {
    Plotly.newPlot(id, figure.data, figure.layout, config);
  }
})();
"""


def _point(p: Point | None) -> str:
    return "-" if p is None else f"{fmt_number(p.value)} <span class=sub>{p.day}</span>"


def metrics_table(summaries: list[MetricSummary]) -> str:
    rows = [
        [
            esc(s.metric),
            _point(s.final),
            _point(s.provisional),
            _point(s.estimated),
            fmt_number(s.reference),
            esc(s.bound.describe()),
            f'<span class="state {s.state}">{s.state}</span>',
            f'<span style="font-family:monospace">{esc(sparkline(s.trend))}</span>',
        ]
        for s in summaries
    ]
    headers = ["metric", "final", "provisional", "estimated", "reference", "bound", "state"]
    return table([*headers, "last 14 days"], rows, numeric={4})


def open_alerts_table(data: DashboardData) -> str:
    alerts = data.alerts[data.alerts["status"] == "open"]
    if alerts.empty:
        return "<p>No open alerts.</p>"
    rows = [
        [
            esc(str(r.date)[:10]),
            esc(r.kind),
            esc(r.metric_or_column),
            esc(r.severity),
            fmt_number(r.value),
            esc(r.message),
        ]
        for r in alerts.head(OPEN_ALERTS_SHOWN).itertuples()
    ]
    more = len(alerts) - OPEN_ALERTS_SHOWN
    note = f'<p class="more">… {more} more open alerts</p>' if more > 0 else ""
    return table(["day", "kind", "subject", "severity", "value", "message"], rows, {4}) + note


def segments_table(data: DashboardData) -> str:
    """The segments furthest below the overall value, in each metric's bad direction, among
    those with at least `min_labelled_rows` labelled rows over the window."""
    seg = data.segments
    seg = seg[seg["n"] >= data.model.min_labelled_rows]
    if seg.empty:
        return "<p>No segment has enough labelled rows yet.</p>"
    sign = seg["metric"].map(lambda m: 1.0 if higher_is_better(data.model, m) else -1.0)
    ranked = seg.assign(gap=(seg["overall"] - seg["value"]) * sign)
    ranked = ranked[ranked["gap"] > 0].sort_values("gap", ascending=False)
    if ranked.empty:
        return "<p>No segment is worse than the model overall.</p>"
    rows = [
        [
            esc(f"{r.segment_column} = {r.segment_value}"),
            esc(r.metric),
            fmt_number(r.value),
            fmt_number(r.overall),
            fmt_number(r.gap, 3),
            f"{int(r.n):,}",
            esc(f"{str(r.first)[:10]} .. {str(r.last)[:10]}"),
        ]
        for r in ranked.head(SEGMENTS_SHOWN).itertuples()
    ]
    headers = ["segment", "metric", "value", "overall", "worse by", "labelled rows", "days"]
    return table(headers, rows, numeric={2, 3, 4, 5})


def report_links_html(data: DashboardData) -> str:
    """Each day's report, grouped by month; days with an alert are marked."""
    if not data.reports:
        return "<p>No daily reports yet.</p>"
    alert_days = {str(d)[:10] for d in data.alerts["date"]}
    parts = []
    for month, links in itertools.groupby(
        data.reports, key=lambda link: link.day.strftime("%Y-%m")
    ):
        cells = "".join(
            f'<a href="{esc(link.href)}" title="{link.day}"'
            + (' class="alert"' if link.day.isoformat() in alert_days else "")
            + f">{link.day.day}</a>"
            for link in links
        )
        parts.append(f"<div class=days><b>{month}</b> {cells}</div>")
    return "".join(parts)


def model_page(data: DashboardData, summary: ModelSummary) -> str:
    model, state = data.model, summary.state
    figures = {"timeline": timeline_figure(data)}
    heatmap = drift_heatmap(data)
    if heatmap is not None:
        figures["drift"] = heatmap
    drift_div = '<div id="drift"></div>' if heatmap else "<p>No drift rows yet.</p>"
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(model.model_id)}: model performance dashboard</title>
<style>{STYLE}</style></head><body>
<p class=sub><a href="../index.html">All models</a></p>
<h1>{esc(model.model_id)} <span class="state {state.replace(" ", "_")}">{esc(state)}</span></h1>
<p class=sub>{esc(model.task.value)} · latest day {esc(summary.latest_day or "-")} ·
{len(summary.open_alerts):,} open alerts · reference: {esc(model.reference.source)} ·
generated {generated}</p>
<h2>Latest values</h2>
{metrics_table(summary.metrics)}
<p class=sub>final: labels are in · provisional: still moving as labels land · estimated: from
the scores, before labels. ALERT: the latest final value, or a later estimate, is outside its
bound (the thresholds of the models file; max_drop counts from the reference).</p>
<h2>Over time</h2>
<p id="charts-error" class="error"></p>
<p class=sub>Bands: 95 % confidence intervals. Red dashes: alert bounds; dotted: reference.
Grey columns: days blocked by the data-quality gate. Drag to zoom, double-click to reset.</p>
<div id="timeline"></div>
<h2>Drift per feature and day</h2>
<p class=sub>Colour: PSI (0.1 moderate, 0.2 significant); &times;: drifted by the column's own
method. Most drifted columns at the top.</p>
{drift_div}
<h2>Open alerts</h2>
{open_alerts_table(data)}
<h2>Worst segments (last 14 days with labels)</h2>
{segments_table(data)}
<h2>Daily reports</h2>
{report_links_html(data)}
{json_script("figures", figures)}
<script type="text/plain" id="plotly-gz">{plotly_bundle_gzip_base64()}</script>
<script>{LOADER_JS}{RENDER_JS}</script>
</body></html>
"""
