"""Small landing zones for tests: a binary classifier's logs, reference and models file.

Shared by the tests that drive whole runs, so each builds its data root the same way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from perf_pipeline.paths import DataPaths


def binary_frame(rng: np.random.Generator, n: int, day: dt.date) -> pd.DataFrame:
    """`n` predictions of one day, with labels drawn from the scores (a calibrated model)."""
    score = rng.random(n)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i}" for i in range(n)],
            "timestamp": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
            "model_version": "v1",
            "amount": rng.normal(100, 10, n),
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "label": (rng.random(n) < score).astype(int),
        }
    )


def write_binary_root(
    root: Path, models_yaml: str, model_id: str, days: list[dt.date], rows: int = 150
) -> DataPaths:
    """A data root with `models_yaml`, a 300-row reference and `rows` predictions a day for
    `model_id` (Parquet, labels left out), deterministic for the same arguments."""
    paths = DataPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    paths.models_file.write_text(models_yaml, encoding="utf-8")
    rng = np.random.default_rng(3)
    reference = paths.landing_reference(model_id)
    reference.mkdir(parents=True)
    first = min(days) - dt.timedelta(days=30)
    binary_frame(rng, 300, first).to_parquet(reference / "ref.parquet")
    for day in days:
        folder = paths.landing_day("predictions", model_id, day)
        folder.mkdir(parents=True)
        binary_frame(rng, rows, day).drop(columns="label").to_parquet(folder / "part-0.parquet")
    return paths


def write_reference_frame(paths: DataPaths, model_id: str, frame: pd.DataFrame) -> None:
    """`frame` (labels included) as the model's reference file."""
    folder = paths.landing_reference(model_id)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "ref.parquet", index=False)


def write_prediction_log(
    paths: DataPaths, model_id: str, day: dt.date, frame: pd.DataFrame
) -> None:
    """`frame` as the day's prediction log, its `label` column withheld: the labels land later
    (`land_labels`), as in production."""
    folder = paths.landing_day("predictions", model_id, day)
    folder.mkdir(parents=True, exist_ok=True)
    frame.drop(columns="label").to_parquet(folder / "part-0.parquet", index=False)


def land_labels(paths: DataPaths, model_id: str, arrival: dt.date, frame: pd.DataFrame) -> None:
    """The `prediction_id` and `label` of `frame`'s rows, arriving on `arrival`."""
    folder = paths.landing_day("labels", model_id, arrival)
    folder.mkdir(parents=True, exist_ok=True)
    frame[["prediction_id", "label"]].to_parquet(folder / "labels.parquet", index=False)
