"""`dagster/column_schema` of the table assets, so the catalog shows each table's columns.

`performance`, `drift` and `data_quality` have fixed schemas (`perf_pipeline.schemas`);
`predictions` and `labels` follow the model (its features, score columns and label type).
"""

from __future__ import annotations

import dagster as dg

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.schemas import DATA_QUALITY, DRIFT, PERFORMANCE

COLUMN_SCHEMA = "dagster/column_schema"
_FIXED = {"performance": PERFORMANCE, "drift": DRIFT, "data_quality": DATA_QUALITY}


def _prediction_columns(model: ModelConfig) -> dict[str, str]:
    features = {c: "DOUBLE" for c in model.features.numerical} | {
        c: "VARCHAR" for c in model.features.categorical
    }
    prediction = "DOUBLE" if model.task is Task.REGRESSION else "VARCHAR"
    return {
        "model_id": "VARCHAR",
        "date": "DATE",
        "prediction_id": "VARCHAR",
        "timestamp": "TIMESTAMPTZ",
        "model_version": "VARCHAR",
        **features,
        "prediction": prediction,
        **{c: "DOUBLE" for c in model.score_columns},
        "source_file": "VARCHAR",
    }


def _label_columns(model: ModelConfig) -> dict[str, str]:
    return {
        "model_id": "VARCHAR",
        "date": "DATE",
        "prediction_id": "VARCHAR",
        "label": "DOUBLE" if model.task is Task.REGRESSION else "VARCHAR",
        "label_timestamp": "TIMESTAMPTZ",
        "arrival_date": "DATE",
        "prediction_date": "DATE",
        "source_file": "VARCHAR",
    }


def column_schema(model: ModelConfig, table: str) -> dict[str, dg.TableSchema]:
    """The `metadata` entry declaring `table`'s columns for `model`'s asset."""
    if table == "predictions":
        columns = _prediction_columns(model)
    elif table == "labels":
        columns = _label_columns(model)
    else:
        columns = _FIXED[table]
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns.items()])
    return {COLUMN_SCHEMA: schema}
