"""Writing the pages: a model's dashboard, its index entry, then the index of every model.

The index is rebuilt from each model's `summary.json` (written beside its page), so refreshing
it after one model's run costs a few file reads, not a query of every model's tables.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perf_pipeline.config import ModelConfig
from perf_pipeline.dashboard.html_parts import write_atomically
from perf_pipeline.dashboard.index_page import index_page
from perf_pipeline.dashboard.page import model_page
from perf_pipeline.dashboard.queries import load_dashboard_data
from perf_pipeline.dashboard.summary import NO_DATA, index_entry, summary_from_frames
from perf_pipeline.paths import DataPaths

if TYPE_CHECKING:
    import duckdb

DASHBOARD_FILE = "index.html"
SUMMARY_FILE = "summary.json"


def dashboard_path(paths: DataPaths, model_id: str) -> Path:
    return paths.reports / model_id / DASHBOARD_FILE


def index_path(paths: DataPaths) -> Path:
    return paths.reports / DASHBOARD_FILE


@dataclass(frozen=True)
class DashboardResult:
    path: Path
    index: Path
    size_bytes: int
    seconds: float
    state: str
    open_alerts: int


def _read_entry(paths: DataPaths, model: ModelConfig) -> dict:
    """A model's index entry; a model whose dashboard was never built shows as NO DATA."""
    try:
        return json.loads((paths.reports / model.model_id / SUMMARY_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {"model_id": model.model_id, "state": NO_DATA, "open_alerts": 0, "metrics": []}


def write_index(paths: DataPaths, models: list[ModelConfig]) -> Path:
    """`reports/index.html` over the models of the models file, in id order."""
    target = index_path(paths)
    entries = [_read_entry(paths, m) for m in sorted(models, key=lambda m: m.model_id)]
    write_atomically(target, index_page(entries))
    return target


def write_dashboards(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    all_models: list[ModelConfig],
) -> DashboardResult:
    """The model's page and index entry, then the index (whose row for the model changed)."""
    began = time.perf_counter()
    data = load_dashboard_data(con, paths, model)
    summary = summary_from_frames(model, data.metrics, data.series, data.volume, data.alerts)
    target = dashboard_path(paths, model.model_id)
    size = write_atomically(target, model_page(data, summary))
    entry = json.dumps(index_entry(summary), indent=1)
    write_atomically(target.with_name(SUMMARY_FILE), entry)
    index = write_index(paths, all_models)
    seconds = time.perf_counter() - began
    return DashboardResult(target, index, size, seconds, summary.state, len(summary.open_alerts))
