"""`ingest_log`: what each landing day held and where every row went, one row per day and source.

The data-quality gate reads it (a day whose files could not be read is blocked there), and it is
the queryable proof of the accounting rule: read = accepted + quarantined.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.listing import SkippedPath
from perf_pipeline.ingest.predictions import DayResult
from perf_pipeline.lake import write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.schemas import INGEST_LOG


def skipped_json(skipped: list[SkippedPath]) -> str | None:
    """The skipped paths of a day as a JSON list of {"path", "why"}; None when there are none."""
    if not skipped:
        return None
    return json.dumps([{"path": s.path, "why": s.why} for s in skipped], ensure_ascii=False)


def write_ingest_log(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    source: str,
    results: dict[dt.date, DayResult],
) -> None:
    frame = pd.DataFrame(
        [
            {
                "model_id": model.model_id,
                "date": day,
                "source": source,
                "files": len(r.load.files),
                "rows_read": r.load.rows_read,
                "accepted": r.accepted,
                "quarantined": r.quarantined,
                "error": r.load.error,
                "extra_columns": ",".join(r.load.extra_columns) or None,
                "skipped": skipped_json(r.load.skipped),
            }
            for day, r in results.items()
        ]
    )
    write_frame_partitions(
        con,
        paths,
        "ingest_log",
        model.model_id,
        frame,
        INGEST_LOG,
        list(results),
        f"{source}.parquet",
    )
