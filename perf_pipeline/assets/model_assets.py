"""The daily-partitioned assets of one model, generated from its entry in `models.yaml`.

Each stage has its own module; this one lists them in data-flow order.
"""

from __future__ import annotations

import dagster as dg

from perf_pipeline.assets.alerts import alerts_asset
from perf_pipeline.assets.dashboard import dashboard_asset
from perf_pipeline.assets.ingest import labels_asset, predictions_asset
from perf_pipeline.assets.quality import data_quality_asset
from perf_pipeline.assets.reference import reference_asset
from perf_pipeline.assets.report import report_asset
from perf_pipeline.assets.review import review_asset
from perf_pipeline.assets.tables import table_asset
from perf_pipeline.config import ModelConfig


def build_model_assets(model: ModelConfig) -> list[dg.AssetsDefinition]:
    """Assets `<model_id>/<stage>`, in one group per model."""
    return [
        reference_asset(model),
        predictions_asset(model),
        labels_asset(model),
        data_quality_asset(model),
        table_asset(model, "performance"),
        table_asset(model, "drift"),
        report_asset(model),
        alerts_asset(model),
        review_asset(model),
        dashboard_asset(model),
    ]
