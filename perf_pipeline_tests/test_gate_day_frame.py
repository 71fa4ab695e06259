"""The gate's day frame: compact for Great Expectations, same outcomes as the plain values.

Real Great Expectations validates a real lake partition, once as the gate builds the frame
(prediction ids as integer codes, text as Arrow-built categories) and once from the plain
values; every outcome, sample values included, must be the same, and the samples must be ids.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.day_frame import ID, codes_suffice, day_frame
from perf_pipeline.quality.gx_runner import SuiteRunner
from perf_pipeline.quality.suite import ExpectationSpec, ReferenceStats, build_suite

DAY = dt.date(2024, 3, 1)
MODEL = ModelConfig(
    model_id="m",
    task="multiclass_classification",
    classes=["a", "b", "c"],
    start_date=DAY,
    features={"numerical": ["amount"], "categorical": ["channel"]},
)
IDS = ["p1", "p2", "p2", None, "p3", "p4", "p4", "p4", None, "p5"]


def _lake(root: Path) -> DataPaths:
    """One accepted-predictions partition with repeated and missing ids (which the ingest never
    lets through, so the gate's id checks must catch them if it ever did)."""
    paths = DataPaths(root)
    n = len(IDS)
    table = pa.table(
        {
            "prediction_id": pa.array(IDS, pa.string()),
            "amount": pa.array([1.0, None, 3.0, 4.0, 500.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
            "channel": pa.array(["web", "app", None, "web", "fax", "web", "app", "web", "x", "y"]),
            "prediction": pa.array(["a", "b", "c", "a", "d", "a", "b", "c", "a", "b"]),
            "score_a": pa.array([0.5] * n),
            "score_b": pa.array([0.25] * n),
            "score_c": pa.array([0.25] * (n - 1) + [0.5]),
        }
    )
    folder = paths.partition_dir("predictions", MODEL.model_id, DAY)
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "data.parquet")
    return paths


def _plain_frame(paths: DataPaths, model: ModelConfig) -> pd.DataFrame:
    """The day as plain pandas values, ids as text: what the gate's frame stands for."""
    path = paths.partition_dir("predictions", model.model_id, DAY) / "data.parquet"
    frame = pd.read_parquet(path)
    scores = [f"score_{c}" for c in model.classes]
    frame["__score_sum"] = frame[scores].sum(axis=1, min_count=1)
    return frame


def _summary(outcomes) -> list[tuple]:
    return [
        (o.spec.name, o.success, o.observed_value, o.unexpected_count, o.sample_values)
        for o in outcomes
    ]


@pytest.fixture(scope="module")
def runner() -> SuiteRunner:
    return SuiteRunner()


def test_coded_ids_give_the_outcomes_of_the_ids_themselves(tmp_path: Path, runner) -> None:
    paths = _lake(tmp_path)
    reference = ReferenceStats(
        rows=10,
        minimum={"amount": 0.0},
        maximum={"amount": 100.0},
        categories={"channel": ["app", "web"]},
    )
    specs = build_suite(MODEL, reference)
    assert codes_suffice(specs)
    built = day_frame(connect(), paths, MODEL, DAY, specs)
    assert built.id_values is not None
    assert pd.api.types.is_numeric_dtype(built.frame[ID])
    assert isinstance(built.frame["channel"].dtype, pd.CategoricalDtype)
    coded = [built.decoded(o) for o in runner.validate(built.frame, specs)]
    plain = runner.validate(_plain_frame(paths, MODEL), specs)
    assert _summary(coded) == _summary(plain)
    by_name = {o.spec.name: o for o in coded}
    unique = by_name["prediction_id_unique"]
    assert not unique.success
    assert unique.unexpected_count == 5
    assert sorted(unique.sample_values) == ["p2", "p2", "p4", "p4", "p4"]
    assert by_name["prediction_id_not_null"].unexpected_count == 2


def test_an_id_check_beyond_equality_sees_the_ids_themselves(tmp_path: Path, runner) -> None:
    """A models-file expectation on the ids' text (their length here) keeps the ids as text."""
    paths = _lake(tmp_path)
    lengths = ExpectationSpec(
        "ExpectColumnValueLengthsToBeBetween",
        {"column": ID, "min_value": 2, "max_value": 2},
        "warning",
        "id_length",
    )
    specs = [*build_suite(MODEL, None), lengths]
    assert not codes_suffice(specs)
    built = day_frame(connect(), paths, MODEL, DAY, specs)
    assert built.id_values is None
    outcomes = {o.spec.name: o for o in runner.validate(built.frame, specs)}
    assert outcomes["id_length"].success
    assert sorted(outcomes["prediction_id_unique"].sample_values) == ["p2", "p2", "p4", "p4", "p4"]
