"""A shadow version's logged rows are kept out of the production model's daily tables.

One day of a binary classifier served by production (`v1`), with a candidate (`v2`) scoring the
same requests in shadow under `<id>#v2` (deliberately different scores, some labelled under
their own id, as the release gate allows). Each scenario is a real run of the model's daily job
on its own data root:

- `shadow`: `shadow_versions: [v2]`, both files: the tables describe `v1` alone.
- `mixed`: no setting, both files: the documented old behaviour, every logged row counts.
- `alone`: `shadow_versions: [v2]`, production's file only: what `shadow` must equal.

Expected numbers come from scikit-learn and pandas on the generated rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from perf_pipeline.config import ModelConfig, ModelsFileError, load_models
from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, read_files_sql, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables.serving import production_rows_sql
from perf_pipeline_tests.landing_zone import binary_frame, write_reference_frame

pytestmark = pytest.mark.slow  # five real runs of the daily job

MODEL = "m"
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=40)
ROWS = 700  # 80 % labelled: enough for a trailing window's calibration (500 rows)
SHADOW = "v2"
STAGES = ("reference", "predictions", "labels", "data_quality", "performance", "drift")


def _models_yaml(shadow: bool, trailing: bool = False) -> str:
    setting = f"    shadow_versions: [{SHADOW}]\n" if shadow else ""
    if trailing:
        setting += "    reference: {source: trailing, days: 1}\n"
    return (
        f"models:\n  {MODEL}:\n    task: binary_classification\n"
        f"    start_date: {(DAY - dt.timedelta(days=30)).isoformat()}\n"
        f"    features: {{numerical: [amount]}}\n{setting}"
    )


def _day_rows(day: dt.date = DAY) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(production, shadow) rows of the day, labels included; the shadow re-scores the same
    requests far worse (nearly the reverse of production's ranking)."""
    rng = np.random.default_rng(7 + (DAY - day).days)
    production = binary_frame(rng, ROWS, day)
    shadow = production.copy()
    shadow["prediction_id"] = shadow["prediction_id"] + f"#{SHADOW}"
    shadow["model_version"] = SHADOW
    shadow["score"] = (1 - production["score"] + rng.normal(0, 0.2, ROWS)).clip(0, 1)
    shadow["prediction"] = (shadow["score"] >= 0.5).astype(int)
    return production, shadow


def _labelled(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """The first `share` of the rows: those whose label arrives (the rest never do)."""
    return frame.iloc[: int(len(frame) * share)]


def _write_root(
    root: Path, shadow_setting: bool, with_shadow_file: bool, days: tuple[dt.date, ...] = (DAY,)
) -> DataPaths:
    """A data root whose `days` each hold production's log (and the shadow's), with labels
    arriving the same day: 80 % of production's rows, half the shadow's under its own ids."""
    paths = DataPaths(root)
    root.mkdir(parents=True)
    trailing = len(days) > 1
    paths.models_file.write_text(_models_yaml(shadow_setting, trailing), encoding="utf-8")
    write_reference_frame(paths, MODEL, binary_frame(np.random.default_rng(3), 600, DAY))
    for day in days:
        production, shadow = _day_rows(day)
        folder = paths.landing_day("predictions", MODEL, day)
        folder.mkdir(parents=True)
        production.drop(columns="label").to_parquet(folder / "production.parquet", index=False)
        labels = [_labelled(production, 0.8)]
        if with_shadow_file:
            shadow_file = folder / f"shadow-{SHADOW}.parquet"
            shadow.drop(columns="label").to_parquet(shadow_file, index=False)
            labels.append(_labelled(shadow, 0.5))
        arrival = paths.landing_day("labels", MODEL, day)
        arrival.mkdir(parents=True)
        frame = pd.concat(labels, ignore_index=True)[["prediction_id", "label"]]
        frame.to_parquet(arrival / "labels.parquet", index=False)
    return paths


def _run(
    root: Path,
    home: Path,
    shadow_setting: bool,
    with_shadow_file: bool,
    days: tuple[dt.date, ...] = (DAY,),
) -> DataPaths:
    """The days through the real daily job; the data root's tables are what the tests read."""
    paths = _write_root(root, shadow_setting, with_shadow_file, days)
    defs = build_definitions(paths.root)
    job = defs.resolve_job_def(daily_job_name(MODEL))
    home.mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[-1].isoformat(),
            },
            asset_selection=[dg.AssetKey([MODEL, stage]) for stage in STAGES],
        )
        assert result.success
    return paths


def _table(paths: DataPaths, table: str) -> pd.DataFrame:
    return connect().execute(f"SELECT * FROM {read_table_sql(paths, table, MODEL)}").df()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DataPaths]:
    scenarios = {"shadow": (True, True), "mixed": (False, True), "alone": (True, False)}
    out = {}
    for name, (setting, shadow_file) in scenarios.items():
        folder = tmp_path_factory.mktemp(name)
        out[name] = _run(folder / "root", folder / "home", setting, shadow_file)
    return out


def _overall(performance: pd.DataFrame, metric: str, estimated: bool = False) -> pd.Series:
    rows = performance[
        (performance["segment_column"] == "__all__")
        & (performance["metric"] == metric)
        & (performance["is_estimated"] == estimated)
    ]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_realized_metrics_and_coverage_count_production_rows_only(runs) -> None:
    production, _ = _day_rows()
    labelled = _labelled(production, 0.8)
    performance = _table(runs["shadow"], "performance")
    roc_auc = _overall(performance, "roc_auc")
    assert roc_auc["value"] == pytest.approx(roc_auc_score(labelled["label"], labelled["score"]))
    assert roc_auc["n"] == len(labelled)
    assert roc_auc["label_coverage"] == pytest.approx(len(labelled) / ROWS)
    # The estimate reads the same production rows: all of them, labelled or not.
    assert _overall(performance, "roc_auc", estimated=True)["n"] == ROWS
    # The shadow rows are still in the predictions table: the release gate reads them.
    predictions = _table(runs["shadow"], "predictions")
    assert (predictions["model_version"] == SHADOW).sum() == ROWS


def test_without_the_setting_every_logged_row_counts(runs) -> None:
    """The documented behaviour of a model that names no shadow version: a mixture."""
    production, shadow = _day_rows()
    labelled = pd.concat([_labelled(production, 0.8), _labelled(shadow, 0.5)])
    roc_auc = _overall(_table(runs["mixed"], "performance"), "roc_auc")
    assert roc_auc["value"] == pytest.approx(roc_auc_score(labelled["label"], labelled["score"]))
    assert roc_auc["n"] == len(labelled)
    assert roc_auc["label_coverage"] == pytest.approx(len(labelled) / (2 * ROWS))


def test_label_lag_counts_production_rows_only(runs) -> None:
    lag = _table(runs["shadow"], "label_lag")
    assert lag[["predictions", "labelled"]].values.tolist() == [[ROWS, int(ROWS * 0.8)]]
    mixed = _table(runs["mixed"], "label_lag")
    assert mixed[["predictions", "labelled"]].values.tolist() == [
        [2 * ROWS, int(ROWS * 0.8) + int(ROWS * 0.5)]
    ]


def test_drift_equals_the_day_without_the_shadow_file(runs) -> None:
    def drift(name: str) -> pd.DataFrame:
        frame = _table(runs[name], "drift")
        return frame.sort_values(["column", "method"]).reset_index(drop=True)

    shadow, alone = drift("shadow"), drift("alone")
    assert len(alone) > 0
    pd.testing.assert_frame_equal(shadow, alone)
    # The test can tell: the mixture's score column is not production's.
    score = drift("mixed").set_index("column").loc["score"]
    assert score["statistic"] != alone.set_index("column").loc["score", "statistic"]


@pytest.fixture(scope="module")
def trailing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DataPaths]:
    """A trailing one-day reference over two days, with and without the shadow files."""
    days = (DAY - dt.timedelta(days=1), DAY)
    out = {}
    for name, shadow_file in {"shadow": True, "alone": False}.items():
        folder = tmp_path_factory.mktemp(f"trailing_{name}")
        out[name] = _run(folder / "root", folder / "home", True, shadow_file, days)
    return out


def _day_table(paths: DataPaths, table: str, keys: list[str]) -> pd.DataFrame:
    frame = _table(paths, table)
    frame = frame[pd.to_datetime(frame["date"]).dt.date == DAY]
    return frame.sort_values(keys).reset_index(drop=True)


def test_a_trailing_reference_is_production_rows_only(trailing) -> None:
    """Drift against the day before, and the estimate calibrated on the day before's labelled
    rows (some of the shadow's are labelled), equal those of the days without the shadow."""
    drift_keys = ["column", "method"]
    shadow_drift = _day_table(trailing["shadow"], "drift", drift_keys)
    assert len(shadow_drift) > 0 and (shadow_drift["reference_kind"] == "trailing_1d").all()
    pd.testing.assert_frame_equal(shadow_drift, _day_table(trailing["alone"], "drift", drift_keys))
    keys = ["segment_column", "segment_value", "metric", "is_estimated"]
    estimated = [
        _day_table(trailing[name], "performance", keys).query("is_estimated")
        for name in ("shadow", "alone")
    ]
    assert len(estimated[0]) > 0
    pd.testing.assert_frame_equal(estimated[0], estimated[1])


def _entry(value: str) -> str:
    return (
        f"models:\n  {MODEL}:\n    task: binary_classification\n"
        f"    start_date: 2026-01-01\n    shadow_versions: {value}\n"
    )


@pytest.mark.parametrize("value", ["v2", "4", "[4]", "['']", "{v: 2}", "null"])
def test_shadow_versions_must_be_a_list_of_names(tmp_path: Path, value: str) -> None:
    file = tmp_path / "models.yaml"
    file.write_text(_entry(value), encoding="utf-8")
    with pytest.raises(ModelsFileError, match="shadow_versions"):
        load_models(file)


def test_shadow_versions_default_to_empty_and_load_as_names(tmp_path: Path) -> None:
    file = tmp_path / "models.yaml"
    file.write_text(_entry("[v4, '5']"), encoding="utf-8")
    assert load_models(file)[MODEL].shadow_versions == ["v4", "5"]
    model = ModelConfig(model_id=MODEL, task="binary_classification", start_date=DAY)
    assert model.shadow_versions == []


def test_rows_without_a_version_are_production_rows(tmp_path: Path) -> None:
    """A log that names no version (NULL) has no shadow; a quote in a name is data, not SQL."""
    file = str(tmp_path / "p.parquet")
    versions = ["v1", None, "v2", "it's", "v2"]
    frame = pd.DataFrame({"prediction_id": [str(i) for i in range(5)], "model_version": versions})
    frame.to_parquet(file, index=False)
    model = ModelConfig(
        model_id=MODEL,
        task="binary_classification",
        start_date=DAY,
        shadow_versions=["v2", "it's"],
    )
    con = duckdb.connect()
    kept = con.execute(f"SELECT prediction_id FROM {production_rows_sql([file], model)}").fetchall()
    assert sorted(p for (p,) in kept) == ["0", "1"]
    plain = model.model_copy(update={"shadow_versions": []})
    assert production_rows_sql([file], plain) == read_files_sql([file])


def model_of(paths: DataPaths) -> ModelConfig:
    return load_models(paths.models_file)[MODEL]


def test_the_days_report_reads_production_rows_only(runs) -> None:
    """The Evidently report's data: the day's rows, its labelled rows and their labels are
    production's, as in the tables; without the setting the report would draw the mixture."""
    from perf_pipeline.reports.day_data import RunReader

    production, _ = _day_rows()
    labelled = _labelled(production, 0.8)
    for name, rows, labelled_rows in (
        ("shadow", ROWS, len(labelled)),
        ("mixed", 2 * ROWS, len(labelled) + int(ROWS * 0.5)),
    ):
        data = RunReader(connect(), runs[name], model_of(runs[name]), [DAY]).read_day(DAY)
        assert data is not None
        assert (data.rows, data.labelled_rows) == (rows, labelled_rows)
    data = RunReader(connect(), runs["shadow"], model_of(runs["shadow"]), [DAY]).read_day(DAY)
    assert set(data.current["model_version"]) == {"v1"}
    expected = labelled.set_index("prediction_id")["label"].astype(str)
    got = data.labelled.set_index("prediction_id")["label"].astype(str)
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
