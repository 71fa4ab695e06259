"""Direct loss estimation of a regression model's mae, mse and rmse, through the `performance`
table's `compute_days` on a real lake.

The synthetic model's error is heteroscedastic: its noise grows with the feature `x` and is
doubled in the `west` region. Day after day the inputs move towards large `x` and towards
`west`, so the realized error rises while the model itself is unchanged (a covariate shift).
The labels of most days are withheld from the lake; the test keeps them and measures each day
with scikit-learn on the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, root_mean_squared_error

from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.estimation.dle import (
    MIN_REFERENCE_ROWS,
    design_matrix,
    design_sql,
    vocabulary_of,
)
from perf_pipeline.estimation.dle_days import reference_key, stored_model_path
from perf_pipeline.ingest.labels import ingest_labels
from perf_pipeline.ingest.predictions import ingest_predictions
from perf_pipeline.lake import connect, read_files_sql, read_table_sql
from perf_pipeline.metrics.performance import ALL, COLUMNS, compute_performance
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables import performance as performance_table
from perf_pipeline.tables.reference import materialize_reference

START = dt.date(2026, 5, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(10)]
LABELLED_DAYS = DAYS[:3]  # half of these days' labels have landed; the rest have none
ROWS_PER_DAY = 2000
REGIONS = ["north", "south", "east", "west"]
MODELS_YAML = f"""
models:
  demand:
    task: regression
    features:
      numerical: [x, z]
      categorical: [region]
    segments: [region]
    start_date: {START.isoformat()}
    reference: {{source: file}}
  demand_window:
    task: regression
    features:
      numerical: [x, z]
      categorical: [region]
    start_date: {START.isoformat()}
    reference: {{source: trailing, days: 2}}
"""


def _rows(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    """Inputs, the model's prediction and the truth; `shift` moves x and the region mix towards
    where the noise is large."""
    x = rng.normal(shift, 1.0, n)
    z = rng.normal(0.0, 1.0, n)
    west = min(0.2 + 0.5 * shift, 0.9)
    others = (1 - west) / 3
    region = rng.choice(REGIONS, n, p=[others, others, others, west])
    prediction = 20 + 3 * x + 2 * z
    noise_sd = np.exp(0.8 * x) * np.where(region == "west", 2.0, 1.0)
    label = prediction + rng.normal(0.0, noise_sd)
    return pd.DataFrame(
        {"x": x, "z": z, "region": region, "prediction": prediction, "label": label}
    )


def _day_log(rng: np.random.Generator, model_id: str, day: dt.date, n: int, shift: float):
    rows = _rows(rng, n, shift)
    rows.insert(0, "prediction_id", [f"{model_id}-{day:%m%d}-{i}" for i in range(n)])
    rows.insert(1, "timestamp", pd.Timestamp(day, tz="UTC") + pd.to_timedelta(range(n), unit="s"))
    rows.insert(2, "model_version", "v1")
    return rows


def _write_log(paths: DataPaths, model_id: str, day: dt.date, log: pd.DataFrame) -> None:
    folder = paths.landing_day("predictions", model_id, day)
    folder.mkdir(parents=True, exist_ok=True)
    log.drop(columns="label").to_parquet(folder / "part-0.parquet", index=False)


def _write_labels(paths: DataPaths, model_id: str, arrival: dt.date, rows: pd.DataFrame) -> None:
    folder = paths.landing_day("labels", model_id, arrival)
    folder.mkdir(parents=True, exist_ok=True)
    rows[["prediction_id", "label"]].to_parquet(folder / "labels.parquet", index=False)


def _write_reference(paths: DataPaths, model_id: str, seed: int, n: int) -> None:
    folder = paths.landing_reference(model_id)
    folder.mkdir(parents=True, exist_ok=True)
    _rows(np.random.default_rng(seed), n, 0.0).to_parquet(folder / "ref.parquet", index=False)


def _shift(day: dt.date) -> float:
    return 0.07 * (day - START).days


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataPaths, ModelConfig, pd.DataFrame]:
    """The `demand` lake: a 5,000-row reference file, ten days of logs, half the labels of the
    first three days; returns the truth of every logged row beside it."""
    paths = DataPaths(tmp_path_factory.mktemp("dle"))
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    model = load_models(paths.models_file)["demand"]
    _write_reference(paths, "demand", seed=1, n=5000)
    rng = np.random.default_rng(2)
    logs = []
    for day in DAYS:
        log = _day_log(rng, "demand", day, ROWS_PER_DAY, _shift(day))
        _write_log(paths, "demand", day, log)
        if day in LABELLED_DAYS:
            _write_labels(paths, "demand", day + dt.timedelta(days=1), log.iloc[::2])
        labelled = (np.arange(len(log)) % 2 == 0) & (day in LABELLED_DAYS)
        logs.append(log.assign(date=day, labelled=labelled))
    con = connect()
    ingest_predictions(con, paths, model, DAYS)
    ingest_labels(con, paths, model, [d + dt.timedelta(days=1) for d in LABELLED_DAYS])
    materialize_reference(con, paths, model)
    con.close()
    return paths, model, pd.concat(logs, ignore_index=True)


@pytest.fixture(scope="module")
def table(lake: tuple[DataPaths, ModelConfig, pd.DataFrame]) -> pd.DataFrame:
    paths, model, _ = lake
    con = connect()
    frame = performance_table.compute_days(con, paths, model, DAYS)
    con.close()
    return frame


def _estimates(table: pd.DataFrame, metric: str, column: str = ALL) -> pd.DataFrame:
    rows = table[table["is_estimated"] & (table["metric"] == metric)]
    return rows[rows["segment_column"] == column].set_index(["date", "segment_value"])


def _realized_by_sklearn(truth: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every group's realized mae, mse and rmse from scikit-learn, over all its logged rows."""
    return truth.groupby(keys).apply(
        lambda g: pd.Series(
            {
                "mae": mean_absolute_error(g["label"], g["prediction"]),
                "mse": mean_squared_error(g["label"], g["prediction"]),
                "rmse": root_mean_squared_error(g["label"], g["prediction"]),
            }
        ),
        include_groups=False,
    )


def test_estimated_mae_follows_the_shift_and_beats_a_constant_error(
    lake: tuple[DataPaths, ModelConfig, pd.DataFrame], table: pd.DataFrame
) -> None:
    """(a) The days' realized mae roughly doubles; the estimate rises with it, and its error
    over the days is far below that of the reference's own mae taken as every day's value."""
    _, _, truth = lake
    realized = _realized_by_sklearn(truth, ["date"])
    estimated = _estimates(table, "mae").xs(ALL, level="segment_value")["value"]
    realized_mae = realized["mae"].loc[estimated.index]
    assert realized_mae.iloc[-1] > 1.6 * realized_mae.iloc[0]  # the shift the test relies on
    assert np.corrcoef(estimated, realized_mae)[0, 1] > 0.95
    assert estimated.iloc[-1] - estimated.iloc[0] > 0.7 * (
        realized_mae.iloc[-1] - realized_mae.iloc[0]
    )
    reference = pd.read_parquet(lake[0].landing_reference("demand") / "ref.parquet")
    constant = mean_absolute_error(reference["label"], reference["prediction"])
    dle_error = float(np.mean(np.abs(estimated - realized_mae)))
    constant_error = float(np.mean(np.abs(constant - realized_mae)))
    assert dle_error < 0.3 * constant_error, (dle_error, constant_error)
    estimated_rmse = _estimates(table, "rmse").xs(ALL, level="segment_value")["value"]
    realized_rmse = realized["rmse"].loc[estimated_rmse.index]
    constant_rmse = root_mean_squared_error(reference["label"], reference["prediction"])
    assert np.mean(np.abs(estimated_rmse - realized_rmse)) < 0.5 * np.mean(
        np.abs(constant_rmse - realized_rmse)
    )


def test_segment_estimates_follow_their_own_error(
    lake: tuple[DataPaths, ModelConfig, pd.DataFrame], table: pd.DataFrame
) -> None:
    """The noisy `west` segment is estimated well above the others, close to its realized mae."""
    _, _, truth = lake
    realized = _realized_by_sklearn(truth, ["date", "region"])["mae"]
    estimated = _estimates(table, "mae", "region")["value"]
    assert set(estimated.index.get_level_values("segment_value")) == set(REGIONS)
    for day in DAYS:
        day_estimates = estimated.xs(day, level="date")
        assert day_estimates["west"] > 1.5 * day_estimates.drop("west").max()
    relative = np.abs(estimated - realized.loc[estimated.index]) / realized.loc[estimated.index]
    assert relative.median() < 0.08


def test_realized_values_fall_within_the_estimates_intervals(
    lake: tuple[DataPaths, ModelConfig, pd.DataFrame], table: pd.DataFrame
) -> None:
    """(b) Over the overall and segment groups of every day, mae, mse and rmse."""
    _, _, truth = lake
    inside = []
    for column, keys in ((ALL, ["date"]), ("region", ["date", "region"])):
        realized = _realized_by_sklearn(truth, keys)
        for metric in ("mae", "mse", "rmse"):
            rows = _estimates(table, metric, column)
            if column == ALL:
                rows = rows.xs(ALL, level="segment_value")
            truth_values = realized[metric].loc[rows.index]
            assert (rows["ci_low"] <= rows["value"]).all() and (
                rows["value"] <= rows["ci_high"]
            ).all()
            inside += list((rows["ci_low"] <= truth_values) & (truth_values <= rows["ci_high"]))
    assert np.mean(inside) >= 0.8, np.mean(inside)


def test_rows_have_the_performance_shape_beside_the_realized_ones(
    lake: tuple[DataPaths, ModelConfig, pd.DataFrame], table: pd.DataFrame
) -> None:
    """(d) Every group of every day has estimated mae, mse and rmse over all its rows, with the
    realized rows exactly as `compute_performance` gives them, and partly labelled days both."""
    paths, model, truth = lake
    assert list(table.columns) == COLUMNS
    estimated = table[table["is_estimated"]]
    assert estimated["predicted_from"].isna().all()
    assert set(estimated["metric"]) == {"mae", "mse", "rmse"}
    by_region = truth.groupby(["date", "region"])["labelled"].agg(["size", "mean"])
    by_day = truth.groupby("date")["labelled"].agg(["size", "mean"])
    for row in estimated.itertuples():
        if row.segment_column == ALL:
            expected = by_day.loc[row.date]
        else:
            expected = by_region.loc[(row.date, row.segment_value)]
        assert row.n == expected["size"]
        assert row.label_coverage == pytest.approx(expected["mean"], rel=1e-12)
    wide = estimated.pivot_table(
        index=["date", "segment_column", "segment_value"], columns="metric", values="value"
    )
    assert np.allclose(wide["rmse"], np.sqrt(wide["mse"]), rtol=1e-12)
    realized_days = set(table.loc[~table["is_estimated"] & (table["n"] > 0), "date"])
    assert realized_days == set(LABELLED_DAYS)
    con = connect()
    performance_table.compute_days(con, paths, model, DAYS)  # leaves its `scored` view behind
    alone = compute_performance(con, model, "scored")
    con.close()
    pd.testing.assert_frame_equal(
        table[~table["is_estimated"]].reset_index(drop=True), alone.reset_index(drop=True)
    )


def test_written_partitions_keep_every_estimate(
    lake: tuple[DataPaths, ModelConfig, pd.DataFrame], table: pd.DataFrame, tmp_path: Path
) -> None:
    """`write_days` stores the estimated rows with the table's types (predicted_from NULL)."""
    paths, model, _ = lake
    con = connect()
    performance_table.write_days(con, paths, model, DAYS, table)
    stored = con.execute(
        f"SELECT * FROM {read_table_sql(paths, 'performance', 'demand')} WHERE is_estimated"
    ).df()
    con.close()
    assert len(stored) == int(table["is_estimated"].sum())
    assert stored["predicted_from"].isna().all()
    assert set(stored["metric"]) == {"mae", "mse", "rmse"}


def test_a_day_run_alone_gets_the_same_estimates(
    lake: tuple[DataPaths, ModelConfig, pd.DataFrame], table: pd.DataFrame
) -> None:
    """A day's estimates do not depend on which days share its run."""
    paths, model, _ = lake
    con = connect()
    alone = performance_table.compute_days(con, paths, model, [DAYS[4]])
    con.close()
    expected = table[table["date"] == DAYS[4]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected, check_exact=False, rtol=1e-12)


def _small_root(tmp_path: Path, reference_rows: int) -> tuple[DataPaths, ModelConfig]:
    """A `demand` lake with one unlabelled day of 300 rows."""
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    model = load_models(paths.models_file)["demand"]
    _write_reference(paths, "demand", seed=5, n=reference_rows)
    _write_log(paths, "demand", START, _day_log(np.random.default_rng(6), "demand", START, 300, 0))
    con = connect()
    ingest_predictions(con, paths, model, [START])
    materialize_reference(con, paths, model)
    con.close()
    return paths, model


def _estimated(paths: DataPaths, model: ModelConfig) -> pd.DataFrame:
    con = connect()
    frame = performance_table.compute_days(con, paths, model, [START])
    con.close()
    return frame[frame["is_estimated"]]


def test_the_loss_model_is_fitted_once_per_reference(tmp_path: Path) -> None:
    """(c) Stored on the first run, loaded (file untouched) on the next, refitted when the
    reference changes, and the estimates move with it."""
    paths, model = _small_root(tmp_path, 1000)
    first = _estimated(paths, model)
    stored = stored_model_path(paths, model)
    assert stored.exists() and len(first) == 3 * (1 + len(REGIONS))
    before = (stored.stat().st_mtime_ns, stored.read_bytes())
    again = _estimated(paths, model)
    assert (stored.stat().st_mtime_ns, stored.read_bytes()) == before
    pd.testing.assert_frame_equal(again, first)
    old_key = reference_key(paths, model)
    _write_reference(paths, "demand", seed=9, n=1200)  # another validation set
    con = connect()
    materialize_reference(con, paths, model)
    con.close()
    assert reference_key(paths, model) != old_key
    refitted = _estimated(paths, model)
    assert stored.read_bytes() != before[1]
    assert not np.allclose(refitted["value"], first["value"])


def test_a_reference_too_small_gives_no_estimate(tmp_path: Path) -> None:
    paths, model = _small_root(tmp_path, MIN_REFERENCE_ROWS - 1)
    con = connect()
    frame = performance_table.compute_days(con, paths, model, [START])
    con.close()
    assert not frame["is_estimated"].any()
    assert set(frame["metric"]) >= {"mae", "rmse"}  # the realized rows are still there


def test_a_trailing_window_fits_on_its_labelled_rows(tmp_path: Path) -> None:
    """Days whose two-day window holds fewer than 500 labelled rows get no estimate; the third
    day's window holds 800, and its estimate is the same whichever days share the run."""
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    model = load_models(paths.models_file)["demand_window"]
    rng = np.random.default_rng(11)
    days = DAYS[:4]
    for day in days:
        log = _day_log(rng, "demand_window", day, 400, 0.0)
        _write_log(paths, "demand_window", day, log)
        _write_labels(paths, "demand_window", day, log)
    con = connect()
    ingest_predictions(con, paths, model, days)
    ingest_labels(con, paths, model, days)
    together = performance_table.compute_days(con, paths, model, days)
    alone = performance_table.compute_days(con, paths, model, [days[3]])
    con.close()
    estimated = together[together["is_estimated"]]
    assert set(estimated["date"]) == {days[2], days[3]}
    pd.testing.assert_frame_equal(
        alone[alone["is_estimated"]].reset_index(drop=True),
        estimated[estimated["date"] == days[3]].reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )


def test_unknown_and_missing_categories_are_missing_codes() -> None:
    """A region the reference never had, or none, is NaN to the loss model (its missing bin),
    never another region's code."""
    reference = pd.DataFrame({"region": ["a", "b", "b", None], "prediction": [1.0] * 4})
    vocabulary = vocabulary_of(reference, ["region"])
    assert vocabulary == (("b", "a"),)
    day = pd.DataFrame({"region": ["a", "zz", None, "b"], "prediction": [1.0, 2.0, 3.0, 4.0]})
    matrix = design_matrix(day, [], ["region"], vocabulary)
    assert matrix[:, 0].tolist()[0] == 1.0 and matrix[3, 0] == 0.0
    assert math.isnan(matrix[1, 0]) and math.isnan(matrix[2, 0])
    assert matrix[:, 1].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_days_with_unseen_values_are_estimated(tmp_path: Path) -> None:
    """A region the reference never saw and NULL features still get estimates."""
    paths, model = _small_root(tmp_path, 1000)
    log = _day_log(np.random.default_rng(3), "demand", DAYS[1], 300, 0.0)
    log.loc[:99, "region"] = "central"
    log.loc[100:149, "x"] = np.nan
    _write_log(paths, "demand", DAYS[1], log)
    con = connect()
    ingest_predictions(con, paths, model, [DAYS[1]])
    frame = performance_table.compute_days(con, paths, model, [DAYS[1]])
    files = read_files_sql(
        [str(p) for p in paths.partition_dir("predictions", "demand", DAYS[1]).glob("*.parquet")]
    )
    logged = con.execute(f"SELECT count(*) FROM {files}").fetchone()[0]
    con.close()
    estimated = frame[frame["is_estimated"]]
    assert "central" in set(estimated["segment_value"])
    overall = estimated[(estimated["segment_column"] == ALL)]
    assert (overall["n"] == logged).all() and overall["value"].notna().all()


def test_the_sql_encoding_is_the_pandas_one() -> None:
    """The day's rows are encoded in DuckDB (`design_sql`), the reference's in pandas
    (`design_matrix`): both give the same matrix, quotes, unknown values and NULLs included."""
    reference = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "shop": ["o'hara", "b", "b"], "prediction": [1.0, 2.0, 3.0]}
    )
    vocabulary = vocabulary_of(reference, ["shop"])
    day = pd.DataFrame(
        {
            "x": [0.5, None, 7.0, 2.0],
            "shop": ["b", "o'hara", None, "new"],
            "prediction": [3.0, 1.5, -2.0, 0.0],
        }
    )
    con = connect()
    con.register("day", day)
    sql = ", ".join(design_sql(["x"], ["shop"], vocabulary))
    from_sql = np.array(con.execute(f"SELECT {sql} FROM day").fetchall(), dtype=float)
    con.close()
    from_pandas = design_matrix(day, ["x"], ["shop"], vocabulary)
    np.testing.assert_array_equal(from_sql, from_pandas)
