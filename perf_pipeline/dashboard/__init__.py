"""The trend dashboard: one self-contained HTML page per model and an index of every model.

`<data root>/reports/<model>/index.html` shows a model's whole history (each configured metric
against its bounds, estimated beside realized, label coverage, volume and quarantine share,
drift per feature and day, alerts, worst segments, links to each day's Evidently report);
`<data root>/reports/index.html` lists the models with their current status. Both open offline:
the one script they need (Plotly's bundle) is inlined, so a copied file still works.

Nothing here knows Dagster: `perf_pipeline.assets.dashboard` calls `write_dashboards` after a
model's run, and `perf-pipeline status` reads the same summaries (`summary.py`).
"""

from perf_pipeline.dashboard.build import write_dashboards

__all__ = ["write_dashboards"]
