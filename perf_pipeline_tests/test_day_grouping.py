"""The `performance` and `drift` partitions of a day never depend on which other days share its
run, nor on the order the runs come in.

A backfill is one run over a range, the daily schedule one run per day, a late-label recompute a
run over scattered days: each must store the same partitions. A small landing zone (a binary
classifier with a reference file, segments and a protected attribute; a regression model
compared with a trailing window) is ingested once; Hypothesis then splits its six days into
groups, in any order, runs `compute_days`/`write_days` of both tables once per group, and the
stored partitions must equal those of one run over all six days.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.predictions import ingest_predictions
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables import drift as drift_table
from perf_pipeline.tables import performance as performance_table
from perf_pipeline.tables.reference import materialize_reference

START = dt.date(2026, 4, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(6)]
LABEL_DAYS = [*DAYS, DAYS[-1] + dt.timedelta(days=1)]
TABLES = ("performance", "drift")
MODELS_YAML = f"""
models:
  cards:
    task: binary_classification
    decision_threshold: 0.4
    features:
      numerical: [amount]
      categorical: [channel]
    segments: [channel]
    protected_attributes: [age_band]
    start_date: {START.isoformat()}
    reference: {{source: file}}
  demand:
    task: regression
    features:
      numerical: [price]
      categorical: [region]
    segments: [region]
    start_date: {START.isoformat()}
    reference: {{source: trailing, days: 2}}
"""


def _predictions(rng: np.random.Generator, model_id: str, day: dt.date, n: int) -> pd.DataFrame:
    """One day's log; the amounts drift a little more each day."""
    shift = max((day - START).days, 0)
    frame = pd.DataFrame(
        {
            "prediction_id": [f"{model_id}-{day:%m%d}-{i}" for i in range(n)],
            "timestamp": [f"{day.isoformat()}T{h:02d}:15:00Z" for h in rng.integers(0, 24, n)],
            "model_version": "v1",
        }
    )
    if model_id == "cards":
        score = np.round(rng.beta(2, 5, n), 3)
        flipped = rng.uniform(size=n) < 0.05  # the logged decision overrides the threshold
        return frame.assign(
            amount=np.round(rng.gamma(2.0, 30.0 + 3 * shift, n), 2),
            channel=rng.choice(["web", "app", "kiosk"], n),
            age_band=rng.choice(["18-30", "31-50", "51+"], n),
            score=score,
            prediction=np.where((score >= 0.4) ^ flipped, "1", "0"),
        )
    return frame.assign(
        price=np.round(rng.normal(10 + shift, 2, n), 2),
        region=rng.choice(["north", "south"], n),
        prediction=np.round(rng.normal(50, 10, n), 1),
    )


def _labels(rng: np.random.Generator, model_id: str, log: pd.DataFrame) -> pd.DataFrame:
    """Labels 0-3 days late (some never), a few corrected by a later arrival."""
    n = len(log)
    if model_id == "cards":
        truth = np.where(rng.uniform(size=n) < log["score"], "1", "0")
    else:
        truth = np.round(log["prediction"].to_numpy() + rng.normal(0, 5, n), 1).astype(str)
    delay = rng.choice([0, 1, 2, 3, 99], n, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    day = pd.to_datetime(log["timestamp"].str[:10]).dt.date
    labels = pd.DataFrame(
        {
            "prediction_id": log["prediction_id"],
            "label": truth,
            "arrival": [d + dt.timedelta(days=int(k)) for d, k in zip(day, delay, strict=True)],
        }
    )
    corrected = labels.sample(frac=0.05, random_state=1).copy()
    corrected["arrival"] = [a + dt.timedelta(days=1) for a in corrected["arrival"]]
    if model_id == "cards":
        corrected["label"] = np.where(corrected["label"] == "1", "0", "1")
    labels = pd.concat([labels, corrected], ignore_index=True)
    labels["label_timestamp"] = [f"{a.isoformat()}T12:00:00Z" for a in labels["arrival"]]
    return labels


def _write_landing(paths: DataPaths, models: dict[str, ModelConfig]) -> None:
    rng = np.random.default_rng(17)
    for model_id in models:
        labels = []
        for day in DAYS:
            log = _predictions(rng, model_id, day, 240)
            folder = paths.landing_day("predictions", model_id, day)
            folder.mkdir(parents=True)
            log.to_parquet(folder / "part-0.parquet", index=False)
            labels.append(_labels(rng, model_id, log))
        arrived = pd.concat(labels, ignore_index=True)
        for day, rows in arrived.groupby("arrival"):
            folder = paths.landing_day("labels", model_id, day)
            folder.mkdir(parents=True)
            rows.drop(columns=["arrival"]).to_parquet(folder / "labels.parquet", index=False)
    reference = _predictions(rng, "cards", START - dt.timedelta(days=30), 1500)
    folder = paths.landing_reference("cards")
    folder.mkdir(parents=True)
    reference.assign(label=_labels(rng, "cards", reference)["label"][: len(reference)]).drop(
        columns=["prediction_id", "timestamp", "model_version"]
    ).to_parquet(folder / "validation.parquet", index=False)


def _run(
    paths: DataPaths,
    models: dict[str, ModelConfig],
    groups: list[list[dt.date]],
    fresh: bool = True,
) -> None:
    """Both tables of both models, one `compute_days`/`write_days` per group, groups in order;
    `fresh` starts from no partitions at all."""
    if fresh:
        for table in TABLES:
            shutil.rmtree(paths.table_dir(table), ignore_errors=True)
    con = connect()
    for days in groups:
        for model in models.values():
            for module in (performance_table, drift_table):
                frame = module.compute_days(con, paths, model, days)
                module.write_days(con, paths, model, days, frame)
    con.close()


def _stored(paths: DataPaths, models: dict[str, ModelConfig]) -> dict[tuple, pd.DataFrame]:
    """Every stored partition file, as written (row order included)."""
    con = connect()
    stored = {}
    for table in TABLES:
        for model_id in models:
            for day in DAYS:
                file = paths.partition_dir(table, model_id, day) / "data.parquet"
                stored[(table, model_id, day)] = con.execute(
                    "SELECT * FROM read_parquet(?)", [str(file)]
                ).df()
    con.close()
    return stored


def _assert_same_partition(got: pd.DataFrame, expected: pd.DataFrame, key: tuple) -> None:
    """Same rows in the same order, every text, flag, date and count identical; floats to 1e-12
    relative, because DuckDB's parallel aggregation adds a group's terms in an order that
    depends on its threads: two runs of the very same days differ in the last bits too."""
    pd.testing.assert_frame_equal(
        got, expected, check_exact=False, rtol=1e-12, atol=0, obj=str(key)
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataPaths, dict[str, ModelConfig]]:
    root = tmp_path_factory.mktemp("grouping")
    paths = DataPaths(root)
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    models = load_models(paths.models_file)
    _write_landing(paths, models)
    con = connect()
    for model in models.values():
        ingest_predictions(con, paths, model, DAYS)
        ingest_labels(con, paths, model, LABEL_DAYS)
    materialize_reference(con, paths, models["cards"])
    con.close()
    return paths, models


@pytest.fixture(scope="module")
def one_run(lake: tuple[DataPaths, dict[str, ModelConfig]]) -> dict[tuple, pd.DataFrame]:
    paths, models = lake
    _run(paths, models, [DAYS])
    return _stored(paths, models)


def test_the_single_run_covers_what_the_property_compares(
    one_run: dict[tuple, pd.DataFrame],
) -> None:
    """Every partition has rows, realized and estimated metrics both occur, the logged class
    decides, and the trailing window gives day 1 no drift but every later day a comparison."""
    cards = pd.concat([one_run[("performance", "cards", d)] for d in DAYS])
    assert set(cards["is_estimated"]) == {True, False}
    assert "mixed" not in set(cards["predicted_from"].dropna())  # every row logs its class
    assert "logged" in set(cards["predicted_from"])
    assert cards["label_coverage"].between(0.01, 0.99).any()
    assert one_run[("drift", "demand", DAYS[0])].empty
    for day in DAYS[1:]:
        assert set(one_run[("drift", "demand", day)]["reference_kind"]) == {"trailing_2d"}
    for day in DAYS:
        assert len(one_run[("drift", "cards", day)]) > 0
        assert len(one_run[("performance", "demand", day)]) > 0


@st.composite
def groupings(draw: st.DrawFn) -> list[list[dt.date]]:
    """Any split of the six days into groups (not only ranges), groups in any order."""
    order = draw(st.permutations(DAYS))
    cuts = draw(st.sets(st.integers(1, len(DAYS) - 1), max_size=len(DAYS) - 1))
    bounds = [0, *sorted(cuts), len(DAYS)]
    return [list(order[a:b]) for a, b in itertools.pairwise(bounds)]


@settings(
    derandomize=True,
    max_examples=8,
    deadline=None,
    # Each example recomputes two tables of two models: shrinking a failure would take minutes,
    # and the failing grouping is printed as it is.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(groups=groupings())
def test_partitions_do_not_depend_on_how_days_are_grouped_or_ordered(
    lake: tuple[DataPaths, dict[str, ModelConfig]],
    one_run: dict[tuple, pd.DataFrame],
    groups: list[list[dt.date]],
) -> None:
    paths, models = lake
    _run(paths, models, groups)
    grouped = _stored(paths, models)
    assert grouped.keys() == one_run.keys()
    for key, expected in one_run.items():
        _assert_same_partition(grouped[key], expected, key)


def test_a_rerun_of_the_same_group_changes_nothing(
    lake: tuple[DataPaths, dict[str, ModelConfig]], one_run: dict[tuple, pd.DataFrame]
) -> None:
    """Runs over overlapping groups on top of a finished run: replacing, never appending."""
    paths, models = lake
    _run(paths, models, [DAYS], fresh=True)
    _run(paths, models, [DAYS[2:5], DAYS[1:4], DAYS[::-1]], fresh=False)
    for key, stored in _stored(paths, models).items():
        _assert_same_partition(stored, one_run[key], key)
