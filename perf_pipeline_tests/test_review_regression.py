"""A regression model's review queue: all uniform rows, and `review_mae` with a t interval.

A regression model logs no confidence, so its least-confident share goes to the uniform draw;
the returned labels give the mean absolute error of the reviewed rows, whose interval is
compared with SciPy's Student t interval on the same errors.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.review.returned import returned_folder
from perf_pipeline.review.sample import review_file
from perf_pipeline_tests.landing_zone import write_prediction_log, write_reference_frame

MODEL = "demand"
DAY = dt.date(2026, 4, 2)
PER_DAY = 12
MODELS = f"""models:
  {MODEL}:
    task: regression
    start_date: 2026-04-01
    features: {{numerical: [x]}}
    review: {{per_day: {PER_DAY}, least_confident: 0.5, regressed_segments: 0, uniform: 0.5}}
"""


def _frame(rng: np.random.Generator, day: dt.date, n: int) -> pd.DataFrame:
    x = rng.normal(10, 2, n)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i:04d}" for i in range(n)],
            "timestamp": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
            "model_version": "v1",
            "x": x,
            "prediction": 3 * x,
            "label": 3 * x + rng.normal(0, 4, n),
        }
    )


def _materialize(defs, instance, stages: list[str]) -> None:
    assets = [defs.resolve_assets_def(dg.AssetKey([MODEL, s])) for s in stages]
    assert dg.materialize(assets, instance=instance, partition_key=DAY.isoformat()).success


def test_review_mae_of_the_returned_uniform_rows(tmp_path) -> None:
    from scipy import stats

    paths = DataPaths(tmp_path / "root")
    paths.root.mkdir()
    paths.models_file.write_text(MODELS, encoding="utf-8")
    rng = np.random.default_rng(9)
    write_reference_frame(paths, MODEL, _frame(rng, DAY - dt.timedelta(days=20), 600))
    frame = _frame(rng, DAY, 300)
    write_prediction_log(paths, MODEL, DAY, frame)
    defs = build_definitions(paths.root)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        _materialize(defs, instance, ["reference", "predictions", "data_quality", "review"])
        sample = pd.read_csv(review_file(paths, MODEL, DAY), dtype={"prediction_id": str})
        assert len(sample) == PER_DAY and set(sample["review_reason"]) == {"uniform"}
        truth = frame.set_index("prediction_id")["label"]
        sample["reviewed_label"] = sample["prediction_id"].map(truth)
        returned_folder(paths, MODEL).mkdir(parents=True)
        sample.to_csv(returned_folder(paths, MODEL) / f"{DAY}.csv", index=False)
        _materialize(defs, instance, ["review"])
    errors = (sample["prediction"] - sample["reviewed_label"]).abs()
    (row,) = (
        connect()
        .execute(f"SELECT * FROM {read_table_sql(paths, 'review_accuracy', MODEL)}")
        .df()
        .to_dict("records")
    )
    low, high = stats.t.interval(0.95, len(errors) - 1, loc=errors.mean(), scale=stats.sem(errors))
    assert (row["metric"], row["interval"], row["n"]) == ("review_mae", "t", PER_DAY)
    assert row["value"] == pytest.approx(errors.mean())
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
