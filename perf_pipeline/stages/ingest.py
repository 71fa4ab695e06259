"""Reading a model's landing zone into the lake: predictions, and labels with their checks."""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths


def ingest_prediction_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict:
    """Accepted rows to `predictions`, rejected ones to `quarantine`, the counts to `ingest_log`."""
    from perf_pipeline.ingest.log import write_ingest_log
    from perf_pipeline.ingest.predictions import ingest_predictions
    from perf_pipeline.views import refresh_views

    results = ingest_predictions(con, paths, model, days)
    write_ingest_log(con, paths, model, "predictions", results)
    refresh_views(paths)
    return results


def ingest_label_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> tuple[dict, list[dict]]:
    """The labels that arrived on `days`, their `data_quality` rows and their alerts.

    The ingest may also re-read arrival days outside `days` (labels quarantined because their
    prediction was not known yet, now known): their rows and alerts are rewritten too, so every
    day the lake changed for is consistent. Returns the ingest results of every day it read and
    the quality rows (what the asset checks report).
    """
    import pandas as pd

    from perf_pipeline.alerts.records import write_alerts
    from perf_pipeline.ingest.labels import ingest_labels
    from perf_pipeline.ingest.log import write_ingest_log
    from perf_pipeline.lake import write_frame_partitions
    from perf_pipeline.quality.label_checks import LABELS_FILE, label_alerts, label_quality_rows
    from perf_pipeline.schemas import DATA_QUALITY
    from perf_pipeline.views import refresh_views

    results = ingest_labels(con, paths, model, days)
    write_ingest_log(con, paths, model, "labels", results)
    rows = label_quality_rows(model, results)
    frame = pd.DataFrame(rows, columns=list(DATA_QUALITY))
    written = sorted(set(days) | set(results))
    write_frame_partitions(
        con, paths, "data_quality", model.model_id, frame, DATA_QUALITY, written, LABELS_FILE
    )
    write_alerts(con, paths, model.model_id, written, label_alerts(model, rows), "labels")
    refresh_views(paths)
    return results, rows
