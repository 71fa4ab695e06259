"""Writing the pages: a model's dashboard, then the index of every model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perf_pipeline.config import ModelConfig
from perf_pipeline.dashboard.html_parts import write_atomically
from perf_pipeline.dashboard.index_page import index_page
from perf_pipeline.dashboard.page import model_page
from perf_pipeline.dashboard.queries import load_dashboard_data
from perf_pipeline.dashboard.summary import ModelSummary, model_summary, summary_from_frames
from perf_pipeline.paths import DataPaths

if TYPE_CHECKING:
    import duckdb

DASHBOARD_FILE = "index.html"


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


def write_model_dashboard(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> tuple[Path, int, ModelSummary]:
    """The model's page; its path, size and current state."""
    data = load_dashboard_data(con, paths, model)
    summary = summary_from_frames(model, data.metrics, data.series, data.volume, data.alerts)
    target = dashboard_path(paths, model.model_id)
    return target, write_atomically(target, model_page(data, summary)), summary


def write_index(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, models: list[ModelConfig]
) -> Path:
    target = index_path(paths)
    summaries = [model_summary(con, paths, m) for m in sorted(models, key=lambda m: m.model_id)]
    write_atomically(target, index_page(summaries))
    return target


def write_dashboards(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    all_models: list[ModelConfig],
) -> DashboardResult:
    """The model's dashboard and the index (whose row for this model just changed)."""
    began = time.perf_counter()
    path, size, summary = write_model_dashboard(con, paths, model)
    index = write_index(con, paths, all_models)
    seconds = time.perf_counter() - began
    return DashboardResult(path, index, size, seconds, summary.state, len(summary.open_alerts))
