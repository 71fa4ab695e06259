"""The alerts stage's inputs and outputs for its tests: judgeable days, one real materialization.

The alert-rule tests write a day's `performance` rows directly (the estimators' output shape,
`schemas.PERFORMANCE`), so the rules are tested on exactly the rows they read, with a gate row
that let the day through (the stage judges only such days). They then materialize the real
`<model>/alerts` asset in Dagster and read the `regressions` file it wrote for the day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from perf_pipeline.assets.alerts import alerts_asset
from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import connect, day_files, read_files_sql, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.gate import GATE_FILE
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.schemas import DATA_QUALITY, PERFORMANCE


def write_judgeable_day(paths: DataPaths, model_id: str, day: dt.date, rows: list[dict]) -> None:
    """The day's `performance` rows, and a gate that let the day through."""
    con = connect()
    frame = pd.DataFrame(rows)
    write_frame_partitions(con, paths, "performance", model_id, frame, PERFORMANCE, [day])
    passed = {"model_id": model_id, "date": day, "expectation": "logs_present", "success": True}
    passed |= {"severity": "error", "unexpected_count": 0}
    gate = pd.DataFrame([passed])
    write_frame_partitions(
        con, paths, "data_quality", model_id, gate, DATA_QUALITY, [day], GATE_FILE
    )


def materialize_alerts(paths: DataPaths, model: ModelConfig, day: dt.date, home: Path) -> set[str]:
    """Run the model's alerts asset for `day` in a Dagster instance kept under `home` (so runs
    accumulate); the partitions it has materialized so far."""
    home.mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize(
            [alerts_asset(model)],
            partition_key=day.isoformat(),
            instance=instance,
            resources={"storage": PipelineStorage(data_root=str(paths.root))},
        )
        assert result.success
        key = dg.AssetKey([model.model_id, "alerts"])
        records = instance.fetch_materializations(key, limit=100).records
    return {record.partition_key for record in records}


def regression_alerts(paths: DataPaths, model_id: str, day: dt.date) -> list[dict]:
    """The day's regression alerts as the stage wrote them."""
    files = day_files(paths, "alerts", model_id, [day], "regressions.parquet")
    return connect().execute(f"SELECT * FROM {read_files_sql(files)}").df().to_dict("records")
