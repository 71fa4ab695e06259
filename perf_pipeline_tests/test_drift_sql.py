"""The DuckDB drift path must give the pandas path's numbers, SciPy's and Evidently's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from test_drift import (
    COLUMN_TYPES,
    DAY1,
    DAY2,
    EVIDENTLY_TESTS,
    P_VALUE_METHODS,
    RTOL,
    _assert_scipy_statistic,
    _evidently,
    _frame,
    _model,
    _score_of,
    assert_rows_match_evidently,
)

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift import (
    DATASET_COLUMN,
    benjamini_hochberg,
    build_reference_profile,
    build_reference_profile_sql,
    compute_drift,
    compute_drift_sql,
    drop_reference_profile,
)
from perf_pipeline.drift import sql as drift_sql
from perf_pipeline.drift.methods import CATEGORICAL, NUMERICAL, ks_p_value_from_statistic
from perf_pipeline.drift.sql import (
    Side,
    column_row,
    ecdf_distances,
    histogram_counts,
    sturges_edges,
)


def _con(**frames: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame)
    return con


def _both(
    reference: pd.DataFrame, current: pd.DataFrame, model: ModelConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    pandas_path = compute_drift(build_reference_profile(reference, model), current, model, "file")
    sql_path = compute_drift_sql(_con(ref=reference, cur=current), model, "ref", "cur", "file")
    return pandas_path, sql_path


def _assert_same(pandas_path: pd.DataFrame, sql_path: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(pandas_path, sql_path, rtol=RTOL, atol=0)


# --- the whole table: both paths --------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("ref_rows", [800, 3000])
@pytest.mark.parametrize("shift", [0.0, 0.6])
def test_sql_table_equals_pandas_table(ref_rows: int, shift: float) -> None:
    rng = np.random.default_rng(30)
    current = pd.concat(
        [
            _frame(rng, 400, shift=shift).assign(date=DAY1),
            _frame(rng, 700, shift=shift / 2).assign(date=DAY2),
        ],
        ignore_index=True,
    )
    _assert_same(*_both(_frame(rng, ref_rows), current, _model()))


@pytest.mark.parametrize("ref_rows", [800, 3000])
def test_sql_table_matches_evidently_column_by_column(ref_rows: int) -> None:
    rng = np.random.default_rng(31)
    reference = _frame(rng, ref_rows)
    current = _frame(rng, 500, shift=0.5).assign(date=DAY1)
    table = compute_drift_sql(_con(ref=reference, cur=current), _model(), "ref", "cur", "file")
    assert_rows_match_evidently(table.set_index("column"), reference, current)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_sql_overrides_nulls_and_missing_columns_equal_pandas() -> None:
    rng = np.random.default_rng(32)
    model = _model(
        drift={
            "methods": {"income": "psi", "region": "jensenshannon", "score": "ks"},
            "thresholds": {"income": 0.5, "n_cards": 0.9},
        }
    )
    reference = _frame(rng, 1500)
    current = _frame(rng, 300, shift=0.3).assign(date=DAY1)
    current.loc[::3, "income"] = np.nan
    current.loc[::4, "region"] = None
    current.loc[::5, "score"] = np.inf
    reference = reference.drop(columns=["n_cards"])  # missing on the reference side
    _assert_same(*_both(reference, current, model))


def test_sql_regression_and_integer_categories_equal_pandas() -> None:
    rng = np.random.default_rng(33)
    model = _model(
        task="regression",
        features={"numerical": ["income", "age"], "categorical": ["code"]},
    )
    reference = pd.DataFrame(
        {
            "income": rng.normal(0, 1, 2500),
            "age": rng.integers(18, 90, 2500),  # integers: Sturges bins at least 1 wide
            "code": rng.choice([1.0, 2.0, 3.0, np.nan], 2500),  # floats print as "1", "2"
            "prediction": rng.normal(0, 1, 2500),
        }
    )
    current = pd.DataFrame(
        {
            "income": rng.normal(0.1, 1, 600),
            "age": rng.integers(20, 95, 600),
            "code": rng.choice(["1", "2", "4"], 600),
            "prediction": rng.normal(0, 1.2, 600),
            "date": DAY1,
        }
    )
    pandas_path, sql_path = _both(reference, current, model)
    _assert_same(pandas_path, sql_path)
    assert sql_path.set_index("column").loc["prediction", "method"] == "wasserstein"


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_unseen_category_gives_an_infinite_chisquare_on_both_paths() -> None:
    """A value absent from the reference has expected count 0: SciPy's chi-square statistic is
    +inf and its p-value 0. Both paths store the infinity itself, not NULL."""
    rng = np.random.default_rng(37)
    model = _model(features={"categorical": ["code"]})
    reference = pd.DataFrame(
        {"code": rng.choice(["a", "b", "c"], 600), "prediction": rng.choice(["0", "1"], 600)}
    )
    current = pd.DataFrame(
        {
            "code": rng.choice(["a", "b", "c", "d"], 200),
            "prediction": rng.choice(["0", "1"], 200),
            "date": DAY1,
        }
    )
    pandas_path, sql_path = _both(reference, current, model)
    _assert_same(pandas_path, sql_path)
    for table in (pandas_path, sql_path):
        code = table.set_index("column").loc["code"]
        assert code["method"] == "chisquare"
        assert code["statistic"] == np.inf and code["p_value"] == 0.0 and bool(code["drifted"])
        _assert_scipy_statistic(code, reference["code"], current["code"], CATEGORICAL)


def test_sql_empty_sides_give_nulls_like_pandas() -> None:
    model = _model(features={"numerical": ["a"]})
    ref = pd.DataFrame({"a": [1.0, 2.0, 3.0], "prediction": ["x", "y", "x"]})
    cur = pd.DataFrame({"a": [np.nan], "prediction": [None], "date": [DAY1]})
    cur["prediction"] = cur["prediction"].astype(object)
    pandas_path, sql_path = _both(ref, cur, model)
    _assert_same(pandas_path, sql_path)
    assert pd.isna(sql_path.set_index("column").loc[DATASET_COLUMN, "statistic"])


def test_profile_is_built_once_and_reused_over_parquet_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days computed with a profile never read the reference again: they still work once its
    Parquet file is gone, and no further profile is built."""
    rng = np.random.default_rng(34)
    model = _model()
    reference = _frame(rng, 5000)
    days = [_frame(rng, 800, shift=s).assign(date=d) for s, d in [(0.0, DAY1), (0.7, DAY2)]]
    con = duckdb.connect()
    for name, frame in [("reference", reference), ("day1", days[0]), ("day2", days[1])]:
        con.register("staged", frame)
        con.execute(f"COPY staged TO '{tmp_path / name}.parquet' (FORMAT parquet)")
        con.unregister("staged")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM '{tmp_path / name}.parquet'")
    profile = build_reference_profile_sql(con, model, "reference")
    (tmp_path / "reference.parquet").unlink()
    builds: list[object] = []
    real_build = drift_sql.build_reference_profile_sql

    def spy(*args: object, **kwargs: object) -> drift_sql.SqlReferenceProfile:
        builds.append(args)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(drift_sql, "build_reference_profile_sql", spy)
    separate = [
        compute_drift_sql(con, model, "reference", d, "file", profile) for d in ("day1", "day2")
    ]
    assert builds == []
    with pytest.raises(duckdb.IOException):  # without the profile the reference is read again
        compute_drift_sql(con, model, "reference", "day1", "file")
    assert len(builds) == 1
    drop_reference_profile(con, profile)
    assert profile.columns == {}
    expected = compute_drift(
        build_reference_profile(reference, model), pd.concat(days), model, "file"
    )
    _assert_same(expected, pd.concat(separate, ignore_index=True))


def test_sql_profile_serves_only_its_model_and_checks_overrides() -> None:
    con = _con(ref=_frame(np.random.default_rng(35), 50), cur=_frame(np.random.default_rng(36), 9))
    profile = build_reference_profile_sql(con, _model(), "ref")
    with pytest.raises(ValueError, match="other"):
        compute_drift_sql(con, _model(model_id="other"), "ref", "cur", "file", profile)
    with pytest.raises(ValueError, match="numerical"):
        build_reference_profile_sql(con, _model(drift={"methods": {"region": "ks"}}), "ref")


# --- the SQL building blocks against SciPy / NumPy / Evidently --------------------------------


def _sides(ref: np.ndarray, cur: np.ndarray) -> tuple[Side, Side]:
    """The reference as the profile keeps it (distinct values and counts when they repeat),
    the current side as a day's raw values."""
    integer = ref.dtype.kind == "i" and cur.dtype.kind == "i"
    reference = Side.numbers(ref.copy(), integer=integer, reference=True)
    current = Side.numbers(cur.copy(), integer=integer)
    return reference, current


@pytest.mark.parametrize(
    "n1, n2, ties",
    [(300, 200, False), (1000, 1000, True), (9000, 10000, False), (12000, 20000, True)],
)
def test_ecdf_distances_and_ks_p_value_match_scipy(n1: int, n2: int, ties: bool) -> None:
    rng = np.random.default_rng(n1 + n2)
    ref, cur = rng.normal(0, 1, n1), rng.normal(0.05, 1.1, n2)
    if ties:
        ref, cur = np.round(ref, 1), np.round(cur, 1)
    reference, current = _sides(ref, cur)
    assert (reference.counts is not None) == ties  # both layouts of the reference are covered
    ks, w1 = ecdf_distances(reference, current)
    scipy_ks = stats.ks_2samp(ref, cur)
    assert ks == pytest.approx(scipy_ks.statistic, rel=RTOL)
    assert w1 == pytest.approx(stats.wasserstein_distance(ref, cur), rel=RTOL)
    assert ks_p_value_from_statistic(ks, n1, n2) == pytest.approx(
        scipy_ks.pvalue, rel=RTOL, abs=1e-300
    )


@pytest.mark.parametrize("block", [1, 7, 64])
@pytest.mark.parametrize(
    "ref, cur",
    [
        ([1.0, 2.0, 3.0], [4.0, 5.0]),  # disjoint: the current lies wholly above
        ([4.0, 5.0, 5.0], [1.0, 2.0]),  # disjoint: the current lies wholly below
        ([0.0, 1.0, 1.0, 2.0, 7.5], [1.0, 2.0, 2.0, 2.0, 3.0, 7.5]),  # shared values
        ([3.0], [3.0, 3.0]),  # one value on both sides
        ([2.0, 2.0, 2.0, 9.0], [-1.0, 2.0, 9.0, 9.0, 11.0]),
    ],
)
def test_ecdf_distances_edge_layouts_and_blocks_match_scipy(
    ref: list[float], cur: list[float], block: int
) -> None:
    """Small blocks walk every block boundary; shared, repeated and disjoint values cover each
    way the two sides' points interleave."""
    for reference_layout in (False, True):
        reference = Side.numbers(np.array(ref), reference=reference_layout)
        current = Side.numbers(np.array(cur))
        ks, w1 = ecdf_distances(reference, current, block=block)
        assert ks == pytest.approx(stats.ks_2samp(ref, cur).statistic, rel=RTOL)
        assert w1 == pytest.approx(stats.wasserstein_distance(ref, cur), rel=RTOL, abs=1e-15)


def test_ecdf_distances_in_blocks_equal_one_block() -> None:
    rng = np.random.default_rng(3)
    ref, cur = np.round(rng.normal(0, 1, 5000), 2), rng.normal(0.1, 1, 4000)
    reference, current = _sides(ref, cur)
    whole = ecdf_distances(reference, current)
    assert ecdf_distances(reference, current, block=333) == pytest.approx(whole, rel=1e-12)
    assert whole[1] == pytest.approx(stats.wasserstein_distance(ref, cur), rel=RTOL)


@pytest.mark.parametrize("integer", [False, True])
def test_histogram_counts_match_numpy_on_edges(integer: bool) -> None:
    rng = np.random.default_rng(40)
    if integer:
        ref, cur = rng.integers(0, 57, 3000), rng.integers(5, 70, 1700)
    else:
        ref, cur = rng.normal(0, 1, 3000), rng.normal(0.3, 1, 1700)
    both = np.concatenate((ref, cur))
    edges = np.histogram_bin_edges(both, bins="sturges")
    if not integer:  # values exactly on inner edges must land where NumPy puts them
        ref = np.concatenate((ref, edges[1:-1], np.nextafter(edges[1:-1], -np.inf)))
        both = np.concatenate((ref, cur))
        edges = np.histogram_bin_edges(both, bins="sturges")
    assert np.array_equal(sturges_edges(both.min(), both.max(), both.size, integer), edges)
    reference, current = _sides(ref, cur)
    assert np.array_equal(histogram_counts(reference, edges), np.histogram(ref, edges)[0])
    assert np.array_equal(histogram_counts(current, edges), np.histogram(cur, edges)[0])


def test_sturges_edges_of_a_constant_match_numpy() -> None:
    for values in (np.full(7, 3.0), np.full(7, 3)):
        expected = np.histogram_bin_edges(values, bins="sturges")
        got = sturges_edges(values.min(), values.max(), values.size, values.dtype.kind == "i")
        assert np.array_equal(got, expected)


def _sql_column(method: str, ref: pd.Series, cur: pd.Series, kind: str) -> dict[str, object]:
    model = _model(features={"numerical": ["x"]} if kind == NUMERICAL else {"categorical": ["x"]})
    model = model.model_copy(
        update={"drift": model.drift.model_copy(update={"methods": {"x": method}})}
    )
    con = _con(ref=pd.DataFrame({"x": ref}), cur=pd.DataFrame({"x": cur, "date": DAY1}))
    rows = compute_drift_sql(con, model, "ref", "cur", "file").set_index("column")
    return rows.loc["x"].to_dict()


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("method", sorted(EVIDENTLY_TESTS))
@pytest.mark.parametrize("size", ["small", "large"])
def test_each_sql_method_matches_evidently(method: str, size: str) -> None:
    rng = np.random.default_rng(41)
    n_ref, n_cur = (400, 150) if size == "small" else (15000, 12000)
    kind = NUMERICAL if method in ("ks", "wasserstein") or method == "psi" else CATEGORICAL
    if kind == NUMERICAL:
        ref, cur = pd.Series(rng.normal(0, 1, n_ref)), pd.Series(rng.normal(0.05, 1, n_cur))
    else:
        values = ["a", "b"] if method == "z" else ["a", "b", "c", "d"]
        ref = pd.Series(rng.choice(values, n_ref))
        cur = pd.Series(rng.choice(values, n_cur, p=None))
    row = _sql_column(method, ref, cur, kind)
    theirs, theirs_drifted = _evidently(method, ref, cur, kind)
    assert row["method"] == method
    assert _score_of(row) == pytest.approx(theirs, rel=RTOL, abs=1e-300)
    assert bool(row["drifted"]) == theirs_drifted
    _assert_scipy_statistic(row, ref, cur, kind)
    if method in P_VALUE_METHODS:  # the statistic is not the p-value any more
        assert row["statistic"] != row["p_value"]


def test_column_row_follows_run_test_for_empty_current() -> None:
    reference = Side(NUMERICAL, np.array([1.0]), np.array([3]))
    current = Side(NUMERICAL)
    row = column_row(reference, current, "ks", None)
    assert row["statistic"] is None and row["p_value"] is None and row["drifted"] is None
    assert row["threshold"] == 0.05
    assert COLUMN_TYPES  # the Evidently helpers are shared with test_drift


# --- multiple testing -------------------------------------------------------------------------


def test_benjamini_hochberg_matches_statsmodels() -> None:
    rng = np.random.default_rng(50)
    for p_values in (rng.uniform(0, 0.2, 17), np.array([0.01, 0.04, 0.04, 0.5, 1.0]), []):
        expected = multipletests(p_values, alpha=0.05, method="fdr_bh")[1] if len(p_values) else []
        assert np.allclose(benjamini_hochberg(p_values), expected, rtol=1e-12, atol=0)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_correction_adjusts_p_value_columns_on_both_paths() -> None:
    rng = np.random.default_rng(51)
    plain = _model(features={"numerical": [f"x{i}" for i in range(6)]})
    corrected = _model(
        features={"numerical": [f"x{i}" for i in range(6)]},
        drift={"multiple_testing": "benjamini_hochberg"},
    )
    reference = pd.DataFrame({f"x{i}": rng.normal(0, 1, 500) for i in range(6)})
    reference["prediction"] = rng.choice(["0", "1"], 500)
    current = pd.DataFrame({f"x{i}": rng.normal(0.04 * i, 1, 300) for i in range(6)})
    current["prediction"] = rng.choice(["0", "1"], 300)
    current["date"] = DAY1

    raw = compute_drift_sql(_con(ref=reference, cur=current), plain, "ref", "cur", "file")
    pandas_path, sql_path = _both(reference, current, corrected)
    _assert_same(pandas_path, sql_path)

    tested = raw[raw["column"] != DATASET_COLUMN].set_index("column")
    rows = sql_path.set_index("column").loc[tested.index]
    reject, adjusted, _, _ = multipletests(tested["p_value"].to_numpy(float), 0.05, "fdr_bh")
    # `p_value` is the adjusted one, `drifted` follows it; `statistic` is the test's, unchanged.
    assert np.allclose(rows["p_value"].to_numpy(float), adjusted, rtol=1e-12, atol=0)
    assert np.array_equal(rows["statistic"].to_numpy(float), tested["statistic"].to_numpy(float))
    ks = (rows["method"] == "ks").to_numpy()
    assert np.array_equal(rows["drifted"].to_numpy(bool)[ks], reject[ks])  # both use <=
    expected = np.where(ks, adjusted <= 0.05, adjusted < 0.05)
    assert np.array_equal(rows["drifted"].to_numpy(bool), expected)
    for column in tested.index:  # the statistics are still SciPy's
        kind = "categorical" if column == "prediction" else "numerical"
        _assert_scipy_statistic(rows.loc[column], reference[column], current[column], kind)


def test_unknown_correction_is_rejected_early() -> None:
    """The models file rejects it (test_drift_table); settings copied without validation are
    still rejected before any day is computed, on both paths."""
    model = _model()
    unknown = model.drift.model_copy(update={"multiple_testing": "bonferonni"})
    model = model.model_copy(update={"drift": unknown})
    reference = _frame(np.random.default_rng(52), 20)
    with pytest.raises(ValueError, match="multiple_testing"):
        build_reference_profile(reference, model)
    with pytest.raises(ValueError, match="multiple_testing"):
        build_reference_profile_sql(_con(ref=reference), model, "ref")


def test_no_correction_by_default() -> None:
    rng = np.random.default_rng(53)
    reference, current = _frame(rng, 300), _frame(rng, 200).assign(date=dt.date(2024, 3, 1))
    model = _model()
    off = _model(drift={"multiple_testing": None})
    _assert_same(*_both(reference, current, model))
    _assert_same(_both(reference, current, model)[1], _both(reference, current, off)[1])
