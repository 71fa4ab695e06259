"""The `drift` table as the drift asset computes it: `tables.drift.compute_days` over a real data
root (Parquet partitions written by the lake functions, a models.yaml read by `load_models`),
checked against the pandas path, Evidently and statsmodels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from test_drift import (
    RTOL,
    _assert_scipy_statistic,
    _evidently_column,
    _frame,
    _model,
    assert_rows_match_evidently,
)

from perf_pipeline.config import ModelConfig, ModelsFileError, load_models
from perf_pipeline.drift import (
    DATASET_COLUMN,
    OUTPUT_COLUMNS,
    build_reference_profile,
    compute_drift,
    compute_drift_sql,
)
from perf_pipeline.drift import sql as drift_sql
from perf_pipeline.drift.methods import CATEGORICAL, NUMERICAL
from perf_pipeline.lake import (
    connect,
    day_files,
    read_files_sql,
    read_table_sql,
    write_frame_partitions,
    write_single,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables import drift as drift_table

START = dt.date(2024, 3, 1)


def _day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def _predictions_schema(model: ModelConfig) -> dict[str, str]:
    """The columns the drift table reads from `predictions`, typed as the ingest writes them
    (numerical features DOUBLE, categories and classes VARCHAR)."""
    schema = {"model_id": "VARCHAR", "date": "DATE", "prediction_id": "VARCHAR"}
    schema |= dict.fromkeys(model.features.numerical, "DOUBLE")
    schema |= dict.fromkeys(model.features.categorical, "VARCHAR")
    return schema | {"prediction": "VARCHAR", "score": "DOUBLE"}


def _typed(frame: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """The frame with the column types it reads back as, so pandas sees what DuckDB sees."""
    return frame.astype(dict.fromkeys(model.features.numerical, "float64"))


def _write_predictions(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    by_day: dict[dt.date, pd.DataFrame],
) -> None:
    """One real `predictions` partition per day; a day with an empty frame gets the empty file a
    failed ingest leaves behind."""
    rows = [
        frame.assign(
            model_id=model.model_id,
            date=day,
            prediction_id=[f"{day}-{i}" for i in range(len(frame))],
        )
        for day, frame in by_day.items()
    ]
    write_frame_partitions(
        con,
        paths,
        "predictions",
        model.model_id,
        pd.concat(rows, ignore_index=True),
        _predictions_schema(model),
        list(by_day),
    )


def _write_reference(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, frame: pd.DataFrame
) -> None:
    con.register("_reference_frame", frame)
    write_single(con, paths, "reference", model.model_id, "SELECT * FROM _reference_frame")
    con.unregister("_reference_frame")


def _pandas_rows(
    reference: pd.DataFrame, day: dt.date, current: pd.DataFrame, model: ModelConfig, kind: str
) -> pd.DataFrame:
    """The pandas path's rows for one day against exactly `reference`."""
    profile = build_reference_profile(reference, model)
    return compute_drift(profile, current.assign(date=day), model, kind)


def _assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        expected.reset_index(drop=True), got.reset_index(drop=True), rtol=RTOL, atol=0
    )


def _spy(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    """Wrap `owner.name` so every call is recorded and still runs the real function."""
    real: Callable[..., Any] = getattr(owner, name)
    calls: list[object] = []

    def spy(*args: object, **kwargs: object) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


# --- a trailing window of production as the reference ------------------------------------------


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_trailing_reference_is_the_previous_n_days(tmp_path: Path) -> None:
    """Day D is compared with the predictions of D-3 .. D-1, never D itself nor D-4.

    Each day's data is shifted a little more than the day before, so a window off by one day
    gives other numbers. Day 3 is the empty partition of a failed ingest: it has no rows itself
    and adds none to the windows that cover it. Day 0 has no earlier day and gets no rows.
    """
    model = _model(reference={"source": "trailing", "days": 3})
    paths, con = DataPaths(tmp_path), connect()
    rng = np.random.default_rng(60)
    frames = {
        _day(i): _typed(_frame(rng, 0 if i == 3 else 350, shift=0.12 * i), model) for i in range(7)
    }
    _write_predictions(con, paths, model, frames)

    table = drift_table.compute_days(con, paths, model, list(frames))

    def window(first: int, last: int) -> pd.DataFrame:
        return pd.concat([frames[_day(i)] for i in range(first, last + 1)], ignore_index=True)

    def expected_rows(day: int, first: int, last: int) -> pd.DataFrame:
        return _pandas_rows(window(first, last), _day(day), frames[_day(day)], model, "trailing_3d")

    expected_days = [1, 2, 4, 5, 6]
    expected = pd.concat(
        [expected_rows(d, max(d - 3, 0), d - 1) for d in expected_days], ignore_index=True
    )
    assert list(table.columns) == OUTPUT_COLUMNS
    assert sorted(set(table["date"])) == [_day(d) for d in expected_days]
    assert set(table["reference_kind"]) == {"trailing_3d"}
    _assert_same(expected, table)

    # The same day against a window shifted by one either way gives other numbers, so the
    # equality above pins the window down to exactly D-3 .. D-1.
    day5 = table[table["date"] == _day(5)].reset_index(drop=True)
    for first, last in [(1, 4), (3, 5), (2, 5)]:
        other = expected_rows(5, first, last)
        mine, theirs = day5["statistic"].astype(float), other["statistic"].astype(float)
        finite = np.isfinite(mine) & np.isfinite(theirs)  # NaN would make allclose False
        assert finite.sum() >= 3 and not np.allclose(mine[finite], theirs[finite])

    # Column by column against Evidently with the window as its reference.
    assert_rows_match_evidently(day5.set_index("column"), window(2, 4), frames[_day(5)])


def test_trailing_window_without_rows_gives_no_drift_rows(tmp_path: Path) -> None:
    """A window of only empty partitions is treated as no window at all: no rows for that day,
    rather than rows of NULL statistics under a `trailing_2d` reference that holds nothing."""
    model = _model(reference={"source": "trailing", "days": 2})
    paths, con = DataPaths(tmp_path), connect()
    rng = np.random.default_rng(61)
    empty = _typed(_frame(rng, 0), model)
    frames = {_day(0): empty, _day(1): empty, _day(2): _typed(_frame(rng, 200), model)}
    _write_predictions(con, paths, model, frames)

    table = drift_table.compute_days(con, paths, model, list(frames))
    assert table.empty and list(table.columns) == OUTPUT_COLUMNS

    # With one non-empty day in the window the day is compared as usual.
    frames[_day(1)] = _typed(_frame(rng, 200), model)
    _write_predictions(con, paths, model, frames)
    table = drift_table.compute_days(con, paths, model, [_day(2)])
    expected = _pandas_rows(frames[_day(1)], _day(2), frames[_day(2)], model, "trailing_2d")
    _assert_same(expected, table)


# --- a file reference is profiled once for a range of days --------------------------------------


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_file_reference_is_profiled_once_for_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model()
    paths, con = DataPaths(tmp_path), connect()
    rng = np.random.default_rng(62)
    reference = _typed(_frame(rng, 2500), model)
    _write_reference(con, paths, model, reference)
    frames = {_day(i): _typed(_frame(rng, 300, shift=0.2 * i), model) for i in range(4)}
    _write_predictions(con, paths, model, frames)
    days = [*frames, _day(9)]  # a day without a partition is skipped

    contexts = _spy(monkeypatch, drift_table, "reference_profile_sql")
    builds = _spy(monkeypatch, drift_sql, "build_reference_profile_sql")
    table = drift_table.compute_days(con, paths, model, days)
    assert (len(contexts), len(builds)) == (1, 1)

    # Each day on its own, every call profiling the reference again, gives the same rows.
    con.execute(f"CREATE VIEW ref AS SELECT * FROM {read_table_sql(paths, 'reference', 'loans')}")
    separate = []
    for day in frames:
        files = day_files(paths, "predictions", "loans", [day])
        con.execute(f"CREATE OR REPLACE VIEW cur AS SELECT * FROM {read_files_sql(files)}")
        separate.append(compute_drift_sql(con, model, "ref", "cur", "file"))
    assert len(builds) == 1 + len(frames)  # the spy sees every unshared build
    pd.testing.assert_frame_equal(table, pd.concat(separate, ignore_index=True), check_exact=True)

    expected = compute_drift(
        build_reference_profile(reference, model),
        pd.concat([f.assign(date=d) for d, f in frames.items()], ignore_index=True),
        model,
        "file",
    )
    _assert_same(expected, table)


# --- Benjamini-Hochberg switched on in models.yaml ---------------------------------------------

_MODELS_YAML = """
models:
  {model_id}:
    task: binary_classification
    start_date: 2024-03-01
    features:
      numerical: [x0, x1, x2, x3, x4, x5]
      categorical: [region]
{drift}
"""


def _load(tmp_path: Path, model_id: str, drift: str) -> ModelConfig:
    path = tmp_path / f"{model_id}.yaml"
    path.write_text(_MODELS_YAML.format(model_id=model_id, drift=drift), encoding="utf-8")
    return load_models(path)[model_id]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_benjamini_hochberg_from_models_yaml_matches_statsmodels(tmp_path: Path) -> None:
    """With the correction on, `p_value` is the BH-adjusted p-value (what `threshold` applies
    to and `drifted` follows) and `statistic` stays SciPy's test statistic; the raw p-values are
    Evidently's, the adjusted ones statsmodels'."""
    corrected = _load(tmp_path, "loans", "    drift:\n      multiple_testing: benjamini_hochberg")
    plain = _load(tmp_path, "loans", "")
    assert corrected.drift.multiple_testing == "benjamini_hochberg"
    assert plain.drift.multiple_testing is None

    rng = np.random.default_rng(63)
    shifts = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]

    def frame(n: int, scale: float) -> pd.DataFrame:
        data = {f"x{i}": rng.normal(scale * shift, 1, n) for i, shift in enumerate(shifts)}
        return pd.DataFrame(
            data
            | {
                "region": rng.choice(["n", "s", "e", "w"], n, p=[0.4, 0.3, 0.2, 0.1]),
                "prediction": rng.choice(["0", "1"], n, p=[0.6 + scale / 20, 0.4 - scale / 20]),
                "score": rng.beta(2, 5 + scale, n),
            }
        )

    reference, current = frame(800, 0.0), frame(300, 1.0)  # <= 1000 rows: ks, chisquare, z
    tables = {}
    for name, model in [("corrected", corrected), ("plain", plain)]:
        paths, con = DataPaths(tmp_path / name), connect()
        _write_reference(con, paths, model, reference)
        _write_predictions(con, paths, model, {START: current})
        tables[name] = drift_table.compute_days(con, paths, model, [START]).set_index("column")

    kinds = {f"x{i}": NUMERICAL for i in range(6)}
    kinds |= {"region": CATEGORICAL, "prediction": CATEGORICAL, "score": NUMERICAL}
    raw = {}
    for column, kind in kinds.items():
        name, score, _ = _evidently_column(reference[column], current[column], kind)
        raw[column] = (name, score)
    assert {name for name, _ in raw.values()} == {"ks", "chisquare", "z"}

    p_values = np.array([score for _, score in raw.values()])
    _, adjusted, _, _ = multipletests(p_values, alpha=0.05, method="fdr_bh")
    rows = tables["corrected"].loc[list(kinds)]
    assert list(rows["method"]) == [name for name, _ in raw.values()]
    np.testing.assert_allclose(rows["p_value"].to_numpy(float), adjusted, rtol=RTOL)
    for column, kind in kinds.items():
        _assert_scipy_statistic(rows.loc[column], reference[column], current[column], kind)
    # Evidently's comparisons on the adjusted values: KS drifts at p <= threshold, others at <.
    expected_drifted = [
        bool(a <= 0.05 if name == "ks" else a < 0.05)
        for (name, _), a in zip(raw.values(), adjusted, strict=True)
    ]
    assert list(rows["drifted"].astype(bool)) == expected_drifted
    assert tables["corrected"].loc[DATASET_COLUMN, "statistic"] == pytest.approx(
        np.mean(expected_drifted)
    )

    # Without the key the same day keeps Evidently's raw p-values and the same statistics, and
    # the correction changed at least one column's verdict here, so the comparison above is not
    # vacuous.
    plain_rows = tables["plain"].loc[list(kinds)]
    np.testing.assert_allclose(plain_rows["p_value"].to_numpy(float), p_values, rtol=RTOL)
    np.testing.assert_array_equal(
        plain_rows["statistic"].to_numpy(float), rows["statistic"].to_numpy(float)
    )
    assert list(plain_rows["drifted"].astype(bool)) != expected_drifted


@pytest.mark.parametrize("value", ["fdr_bh", "bonferonni"])
def test_models_yaml_accepts_only_benjamini_hochberg(tmp_path: Path, value: str) -> None:
    with pytest.raises(ModelsFileError, match="multiple_testing"):
        _load(tmp_path, "loans", f"    drift:\n      multiple_testing: {value}")
