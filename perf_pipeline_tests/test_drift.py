"""Drift numbers must match SciPy and Evidently's own legacy stattests on the same data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import (
    chi_stat_test,
    get_stattest,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
    z_stat_test,
)
from evidently.legacy.core import ColumnType
from scipy import stats
from scipy.spatial import distance
from statsmodels.stats.proportion import proportions_ztest

from perf_pipeline.config import ModelConfig
from perf_pipeline.drift import (
    DATASET_COLUMN,
    OUTPUT_COLUMNS,
    ColumnSample,
    build_reference_profile,
    compute_drift,
    run_test,
)
from perf_pipeline.drift import methods as drift_methods
from perf_pipeline.drift.methods import CATEGORICAL, NUMERICAL, default_method

RTOL = 1e-9
DAY1 = dt.date(2024, 3, 1)
DAY2 = dt.date(2024, 3, 2)

EVIDENTLY_TESTS = {
    "ks": ks_stat_test,
    "chisquare": chi_stat_test,
    "z": z_stat_test,
    "wasserstein": wasserstein_stat_test,
    "jensenshannon": jensenshannon_stat_test,
    "psi": psi_stat_test,
}
COLUMN_TYPES = {NUMERICAL: ColumnType.Numerical, CATEGORICAL: ColumnType.Categorical}
P_VALUE_METHODS = ("ks", "chisquare", "z")


def _model(**overrides: object) -> ModelConfig:
    base: dict[str, object] = {
        "model_id": "loans",
        "task": "binary_classification",
        "start_date": DAY1,
        "features": {"numerical": ["income", "n_cards"], "categorical": ["region"]},
    }
    return ModelConfig(**{**base, **overrides})


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift * 10, 10, n),
            "n_cards": rng.integers(0, 4, n),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "prediction": rng.choice(["0", "1"], n, p=[0.7 - shift / 4, 0.3 + shift / 4]),
            "score": rng.beta(2, 5 - shift, n),
        }
    )


def _score_of(row: Mapping[str, object]) -> object:
    """Evidently's drift score in one of our rows: `p_value` for p-value methods (`statistic`
    holds the test statistic there), `statistic` for distances."""
    return row["p_value"] if row["method"] in P_VALUE_METHODS else row["statistic"]


def _ours(method: str, ref: pd.Series, cur: pd.Series, kind: str) -> drift_methods.TestResult:
    result = run_test(
        ColumnSample.from_series(ref, kind), ColumnSample.from_series(cur, kind), method
    )
    assert result.statistic is not None and result.drifted is not None
    assert (result.p_value is not None) == (method in P_VALUE_METHODS)
    return result


def _evidently(method: str, ref: pd.Series, cur: pd.Series, kind: str) -> tuple[float, bool]:
    stattest = EVIDENTLY_TESTS[method]
    score, drifted = stattest.func(ref, cur, COLUMN_TYPES[kind], stattest.default_threshold)
    return float(score), bool(drifted)


def _scipy_statistic(method: str, ref: pd.Series, cur: pd.Series) -> float:
    """A p-value test's statistic as SciPy (statsmodels for z) reports it on Evidently's inputs.

    The z statistic is the reference's share of "not the smallest value" against the current's,
    with pooled variance, as Evidently's formula; both sides holding one same value give 0.
    """
    if method == "ks":
        return float(stats.ks_2samp(ref, cur).statistic)
    keys = sorted(set(ref) | set(cur))
    if method == "chisquare":
        f_exp = [(ref == k).sum() * len(cur) / len(ref) for k in keys]
        f_obs = [(cur == k).sum() for k in keys]
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(stats.chisquare(f_obs, f_exp).statistic)
    assert method == "z"
    if len(keys) == 1:
        return 0.0
    counts = [int((ref != keys[0]).sum()), int((cur != keys[0]).sum())]
    return float(proportions_ztest(counts, [len(ref), len(cur)])[0])


def _assert_scipy_statistic(
    row: Mapping[str, object], ref: pd.Series, cur: pd.Series, kind: str
) -> None:
    """`statistic` is SciPy's test statistic for p-value methods, Evidently's distance else.

    Nulls and infinities are dropped first, as both we and `_evidently_column` do.
    """
    method = str(row["method"])
    ref = ref.replace([np.inf, -np.inf], np.nan).dropna()
    cur = cur.replace([np.inf, -np.inf], np.nan).dropna()
    if method in P_VALUE_METHODS:
        expected = _scipy_statistic(method, ref, cur)
    else:
        expected = _evidently(method, ref, cur, kind)[0]
        assert pd.isna(row["p_value"])
    assert row["statistic"] == pytest.approx(expected, rel=RTOL, abs=1e-300)


def _assert_parity(
    method: str, ref: pd.Series, cur: pd.Series, kind: str
) -> drift_methods.TestResult:
    """Our drift score and verdict are Evidently's; our statistic is SciPy's (or the distance)."""
    ours = _ours(method, ref, cur, kind)
    theirs, theirs_drifted = _evidently(method, ref, cur, kind)
    row = {"method": method, "statistic": ours.statistic, "p_value": ours.p_value}
    assert _score_of(row) == pytest.approx(theirs, rel=RTOL, abs=1e-300)
    assert ours.drifted == theirs_drifted
    _assert_scipy_statistic(row, ref, cur, kind)
    return ours


def _scipy_binned(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return np.histogram(ref, edges)[0] / ref.size, np.histogram(cur, edges)[0] / cur.size


# --- each method against SciPy and Evidently -----------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_ks_matches_scipy_and_evidently(shift: float) -> None:
    rng = np.random.default_rng(1)
    ref, cur = pd.Series(rng.normal(0, 1, 600)), pd.Series(rng.normal(shift, 1, 250))
    ours = _assert_parity("ks", ref, cur, NUMERICAL)
    scipy_ks = stats.ks_2samp(ref, cur)
    assert ours.statistic == pytest.approx(scipy_ks.statistic, rel=RTOL)
    assert ours.p_value == pytest.approx(scipy_ks.pvalue, rel=RTOL)


def test_ks_drifts_at_p_equal_threshold() -> None:
    ref, cur = pd.Series(np.arange(10.0)), pd.Series(np.arange(10.0) + 5)
    p_value = stats.ks_2samp(ref, cur).pvalue
    result = run_test(
        ColumnSample.from_series(ref, NUMERICAL),
        ColumnSample.from_series(cur, NUMERICAL),
        "ks",
        threshold=p_value,
    )
    assert result.drifted is True


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize(
    "ref_values, cur_values",
    [
        (["a", "b", "c", "d"], ["a", "b", "c", "d"]),
        (["a", "b", "c"], ["a", "b", "c", "d"]),  # unseen category: statistic inf, p-value 0
        (["a", "b", "c", "d"], ["a", "b"]),
    ],
)
def test_chisquare_matches_scipy_and_evidently(ref_values: list, cur_values: list) -> None:
    rng = np.random.default_rng(2)
    ref = pd.Series(rng.choice(ref_values, 700))
    cur = pd.Series(rng.choice(cur_values, 300))
    ours = _assert_parity("chisquare", ref, cur, CATEGORICAL)
    keys = sorted(set(ref) | set(cur))
    f_exp = [(ref == k).sum() * len(cur) / len(ref) for k in keys]
    f_obs = [(cur == k).sum() for k in keys]
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = stats.chisquare(f_obs, f_exp)
    assert ours.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert ours.p_value == pytest.approx(expected.pvalue, rel=RTOL)
    assert (ours.statistic == np.inf) == (set(cur) > set(ref))  # stored as inf, not NULL


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_chisquare_on_few_valued_numbers_matches_evidently() -> None:
    rng = np.random.default_rng(3)
    ref, cur = pd.Series(rng.integers(0, 4, 500)), pd.Series(rng.integers(0, 5, 200))
    _assert_parity("chisquare", ref, cur, NUMERICAL)


@pytest.mark.parametrize(
    "ref_values, cur_values",
    [
        (["no", "yes"], ["no", "yes"]),
        (["no"], ["yes"]),
        (["no"], ["no"]),  # one identical value on both sides: p-value 1
        (["no", "yes"], ["yes"]),
    ],
)
def test_z_matches_scipy_and_evidently(ref_values: list, cur_values: list) -> None:
    rng = np.random.default_rng(4)
    ref = pd.Series(rng.choice(ref_values, 400))
    cur = pd.Series(rng.choice(cur_values, 150))
    ours = _assert_parity("z", ref, cur, CATEGORICAL)
    p1, p2 = (ref != "no").mean(), (cur != "no").mean()
    pooled = (p1 * len(ref) + p2 * len(cur)) / (len(ref) + len(cur))
    if pooled in (0.0, 1.0):
        assert (ours.statistic, ours.p_value) == (0.0, 1.0)
    else:
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(cur)))
        assert ours.statistic == pytest.approx(z, rel=RTOL)  # signed: reference minus current
        assert ours.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-6, abs=1e-15)


@pytest.mark.parametrize("scale", [1.0, 0.0])
def test_wasserstein_matches_scipy_and_evidently(scale: float) -> None:
    rng = np.random.default_rng(5)
    ref = pd.Series(rng.normal(3, 2, 2000) * scale)  # scale 0: std floor of 0.001
    cur = pd.Series(rng.normal(3.4, 2, 700))
    ours = _assert_parity("wasserstein", ref, cur, NUMERICAL)
    expected = stats.wasserstein_distance(ref, cur) / max(np.std(ref.to_numpy()), 0.001)
    assert ours.statistic == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("method", ["wasserstein", "jensenshannon", "psi"])
def test_integer_columns_match_evidently(method: str) -> None:
    rng = np.random.default_rng(6)
    ref, cur = pd.Series(rng.integers(0, 100, 3000)), pd.Series(rng.integers(10, 90, 500))
    _assert_parity(method, ref, cur, NUMERICAL)


@pytest.mark.parametrize("method", ["jensenshannon", "psi"])
def test_binned_methods_on_continuous_values(method: str) -> None:
    rng = np.random.default_rng(7)
    ref, cur = pd.Series(rng.normal(0, 1, 3000)), pd.Series(rng.normal(0.2, 1.3, 900))
    ours = _assert_parity(method, ref, cur, NUMERICAL)
    ref_p, cur_p = _scipy_binned(ref.to_numpy(), cur.to_numpy())
    if method == "jensenshannon":
        assert ours.statistic == pytest.approx(distance.jensenshannon(ref_p, cur_p), rel=RTOL)


@pytest.mark.parametrize("method", ["jensenshannon", "psi"])
@pytest.mark.parametrize("kind", [NUMERICAL, CATEGORICAL])
def test_binned_methods_on_few_values(method: str, kind: str) -> None:
    rng = np.random.default_rng(8)
    ref = pd.Series(rng.integers(0, 12, 2500))  # 12 values: counted, not binned
    cur = pd.Series(rng.integers(3, 15, 600))  # values missing on each side: zero filling
    if kind == CATEGORICAL:
        ref, cur = ref.astype(str), cur.astype(str)
    _assert_parity(method, ref, cur, kind)


def test_psi_matches_textbook_formula() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    cur = pd.Series(["a"] * 30 + ["b"] * 30 + ["c"] * 40)
    r, c = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    ours = _assert_parity("psi", ref, cur, CATEGORICAL)
    assert ours.statistic == pytest.approx(np.sum((r - c) * np.log(r / c)), rel=RTOL)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("method", sorted(EVIDENTLY_TESTS))
def test_score_equal_to_threshold_follows_evidently(method: str) -> None:
    rng = np.random.default_rng(18)
    kind = NUMERICAL if method in ("ks", "wasserstein") else CATEGORICAL
    if kind == NUMERICAL:
        ref, cur = pd.Series(rng.normal(0, 1, 200)), pd.Series(rng.normal(0.2, 1, 100))
    else:
        values = ["a", "b"] if method == "z" else ["a", "b", "c"]
        ref, cur = pd.Series(rng.choice(values, 200)), pd.Series(rng.choice(values, 100))
    score, _ = _evidently(method, ref, cur, kind)
    theirs = EVIDENTLY_TESTS[method].func(ref, cur, COLUMN_TYPES[kind], score)[1]
    ours = run_test(
        ColumnSample.from_series(ref, kind), ColumnSample.from_series(cur, kind), method, score
    )
    assert ours.drifted == bool(theirs)
    assert ours.drifted is (method in ("ks", "wasserstein", "jensenshannon", "psi"))


# --- default selection ----------------------------------------------------------------------


def _series(n_rows: int, n_unique: int, kind: str, offset: int = 0) -> pd.Series:
    values = (np.arange(n_rows) % n_unique + offset).astype(float)
    return pd.Series(values.astype(int).astype(str) if kind == CATEGORICAL else values)


@pytest.mark.parametrize("ref_rows", [999, 1000, 1001])
@pytest.mark.parametrize("kind", [NUMERICAL, CATEGORICAL])
@pytest.mark.parametrize("n_unique", [1, 2, 3, 5, 6, 25])
def test_default_method_matches_evidently(ref_rows: int, kind: str, n_unique: int) -> None:
    ref = _series(ref_rows, n_unique, kind)
    cur = _series(300, n_unique, kind)
    ours = default_method(ColumnSample.from_series(ref, kind), ColumnSample.from_series(cur, kind))
    assert ours == get_stattest(ref, cur, COLUMN_TYPES[kind], None).name


@pytest.mark.parametrize("kind", [NUMERICAL, CATEGORICAL])
def test_unique_values_are_counted_over_both_sides(kind: str) -> None:
    ref = _series(800, 5, kind)
    cur = _series(200, 5, kind, offset=1)  # one value only in current: six in all
    ours = default_method(ColumnSample.from_series(ref, kind), ColumnSample.from_series(cur, kind))
    assert ours == get_stattest(ref, cur, COLUMN_TYPES[kind], None).name
    assert ours == ("ks" if kind == NUMERICAL else "chisquare")


def test_reference_rows_are_counted_after_dropping_nulls() -> None:
    rng = np.random.default_rng(9)
    ref = pd.Series(np.r_[rng.normal(0, 1, 1000), [np.nan] * 50, [np.inf]])
    cur = pd.Series(rng.normal(0, 1, 100))
    result = run_test(
        ColumnSample.from_series(ref, NUMERICAL), ColumnSample.from_series(cur, NUMERICAL)
    )
    assert result.method == "ks"
    expected = stats.ks_2samp(ref.replace(np.inf, np.nan).dropna(), cur)
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.p_value == pytest.approx(expected.pvalue, rel=RTOL)


# --- the drift table --------------------------------------------------------------------------


def _evidently_column(ref: pd.Series, cur: pd.Series, kind: str) -> tuple[str, float, bool]:
    ref = ref.replace([np.inf, -np.inf], np.nan).dropna()
    cur = cur.replace([np.inf, -np.inf], np.nan).dropna()
    stattest = get_stattest(ref, cur, COLUMN_TYPES[kind], None)
    result = stattest(ref, cur, COLUMN_TYPES[kind], None)
    return stattest.name, float(result.drift_score), bool(result.drifted)


# The frame's drift columns (`_frame`) and their kinds.
FRAME_KINDS = {
    "income": NUMERICAL,
    "n_cards": NUMERICAL,
    "region": CATEGORICAL,
    "prediction": CATEGORICAL,
    "score": NUMERICAL,
}


def assert_rows_match_evidently(
    rows: pd.DataFrame, reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    """Each column's row (indexed by column) against Evidently's own test on the same data:
    method, drift score and verdict; SciPy's statistic; Evidently's PSI."""
    for column, kind in FRAME_KINDS.items():
        row = rows.loc[column]
        name, score, drifted = _evidently_column(reference[column], current[column], kind)
        assert row["method"] == name, column
        assert _score_of(row) == pytest.approx(score, rel=RTOL, abs=1e-300), column
        assert bool(row["drifted"]) == drifted, column
        _assert_scipy_statistic(row, reference[column], current[column], kind)
        psi_score, _ = _evidently("psi", reference[column], current[column], kind)
        assert row["psi"] == pytest.approx(psi_score, rel=RTOL), column


@pytest.mark.parametrize("ref_rows", [800, 3000])
def test_table_matches_evidently_column_by_column(ref_rows: int) -> None:
    rng = np.random.default_rng(10)
    model = _model()
    reference = _frame(rng, ref_rows)
    current = _frame(rng, 400, shift=0.6).assign(date=DAY1)
    table = compute_drift(build_reference_profile(reference, model), current, model, "file")

    assert list(table.columns) == OUTPUT_COLUMNS
    assert list(table["column"]) == [*FRAME_KINDS, DATASET_COLUMN]
    assert_rows_match_evidently(table.set_index("column"), reference, current)
    assert set(table["reference_kind"]) == {"file"}
    assert set(table["model_id"]) == {"loans"}


def test_overrides_change_method_and_threshold() -> None:
    rng = np.random.default_rng(11)
    model = _model(
        drift={
            "methods": {"income": "psi", "region": "jensenshannon"},
            "thresholds": {"income": 0.5, "n_cards": 0.9},
        }
    )
    reference, current = _frame(rng, 500), _frame(rng, 300).assign(date=DAY1)
    table = compute_drift(build_reference_profile(reference, model), current, model, "file")
    rows = table.set_index("column")

    assert rows.loc["income", "method"] == "psi"
    assert rows.loc["income", "threshold"] == 0.5
    assert rows.loc["income", "statistic"] == pytest.approx(rows.loc["income", "psi"], rel=RTOL)
    assert pd.isna(rows.loc["income", "p_value"])
    assert rows.loc["region", "method"] == "jensenshannon"
    assert rows.loc["region", "threshold"] == 0.1
    assert rows.loc["n_cards", "method"] == "chisquare"
    assert rows.loc["n_cards", "threshold"] == 0.9
    assert bool(rows.loc["n_cards", "drifted"]) == (rows.loc["n_cards", "p_value"] < 0.9)
    assert rows.loc["score", "threshold"] == 0.05


@pytest.mark.parametrize(
    "methods, message",
    [({"income": "kolmogorov"}, "unknown"), ({"region": "ks"}, "numerical")],
)
def test_bad_overrides_fail_when_the_profile_is_built(
    methods: dict[str, str], message: str
) -> None:
    model = _model(drift={"methods": methods})
    with pytest.raises(ValueError, match=message):
        build_reference_profile(_frame(np.random.default_rng(12), 50), model)


def test_nulls_are_dropped_and_empty_columns_give_null() -> None:
    rng = np.random.default_rng(13)
    model = _model()
    reference = _frame(rng, 600)
    current = _frame(rng, 300).assign(date=DAY1)
    current.loc[::3, "income"] = np.nan
    current.loc[::4, "region"] = None
    current["n_cards"] = np.nan  # empty on the current side
    reference["score"] = np.nan  # empty on the reference side
    table = compute_drift(build_reference_profile(reference, model), current, model, "file")
    rows = table.set_index("column")

    for column in ("income", "region"):
        kind = NUMERICAL if column == "income" else CATEGORICAL
        name, score, _ = _evidently_column(reference[column], current[column], kind)
        assert name in P_VALUE_METHODS
        assert rows.loc[column, "p_value"] == pytest.approx(score, rel=RTOL)
        _assert_scipy_statistic(rows.loc[column], reference[column], current[column], kind)
    for column in ("n_cards", "score"):
        assert pd.isna(rows.loc[column, "statistic"]) and pd.isna(rows.loc[column, "p_value"])
        assert pd.isna(rows.loc[column, "drifted"])
        assert pd.isna(rows.loc[column, "psi"])
        assert pd.notna(rows.loc[column, "threshold"])
    tested = rows.drop(index=["n_cards", "score", DATASET_COLUMN])["drifted"]
    assert rows.loc[DATASET_COLUMN, "statistic"] == pytest.approx(tested.astype(bool).mean())


def test_dataset_row_is_the_share_of_drifted_columns() -> None:
    ref = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0), "prediction": ["x"] * 100})
    cur = pd.DataFrame(
        {
            "a": np.arange(100.0) + 80,  # drifts
            "b": np.arange(100.0),  # does not
            "prediction": ["x"] * 50 + ["y"] * 50,  # drifts
            "date": DAY1,
        }
    )
    for share_threshold, expected in [(0.5, True), (0.7, False)]:
        model = _model(
            features={"numerical": ["a", "b"]}, drift={"share_threshold": share_threshold}
        )
        table = compute_drift(build_reference_profile(ref, model), cur, model, "trailing")
        row = table.set_index("column").loc[DATASET_COLUMN]
        assert row["method"] == "share_of_drifted_columns"
        assert row["statistic"] == pytest.approx(2 / 3)
        assert row["threshold"] == share_threshold
        assert bool(row["drifted"]) is expected
        assert pd.isna(row["p_value"]) and pd.isna(row["psi"])


def test_a_day_with_nothing_testable_has_a_null_share() -> None:
    model = _model(features={"numerical": ["a"]})
    ref = pd.DataFrame({"a": [1.0, 2.0, 3.0], "prediction": ["x", "y", "x"]})
    cur = pd.DataFrame({"a": [np.nan], "prediction": [None], "date": [DAY1]})
    table = compute_drift(build_reference_profile(ref, model), cur, model, "file")
    row = table.set_index("column").loc[DATASET_COLUMN]
    assert pd.isna(row["statistic"]) and pd.isna(row["drifted"])


def test_each_date_is_compared_on_its_own() -> None:
    rng = np.random.default_rng(14)
    model = _model()
    profile = build_reference_profile(_frame(rng, 2000), model)
    day1 = _frame(rng, 300).assign(date=pd.Timestamp(DAY1))
    day2 = _frame(rng, 500, shift=0.8).assign(date=pd.Timestamp(DAY2))
    both = pd.concat([day2, day1]).sample(frac=1.0, random_state=0)

    table = compute_drift(profile, both, model, "file")
    separate = pd.concat(
        [compute_drift(profile, day, model, "file") for day in (day1, day2)], ignore_index=True
    )
    pd.testing.assert_frame_equal(table, separate)
    assert list(table["date"].unique()) == [DAY1, DAY2]
    assert len(table) == 2 * (5 + 1)
    shares = table[table["column"] == DATASET_COLUMN].set_index("date")["statistic"]
    assert shares[DAY2] > shares[DAY1]


def test_empty_current_gives_an_empty_table() -> None:
    model = _model()
    profile = build_reference_profile(_frame(np.random.default_rng(15), 100), model)
    empty = _frame(np.random.default_rng(16), 0).assign(date=pd.Series([], dtype=object))
    table = compute_drift(profile, empty, model, "file")
    assert table.empty and list(table.columns) == OUTPUT_COLUMNS


def test_regression_prediction_is_numerical_and_score_optional() -> None:
    rng = np.random.default_rng(17)
    model = _model(task="regression", features={"numerical": ["income"]})
    reference = pd.DataFrame(
        {"income": rng.normal(0, 1, 1500), "prediction": rng.normal(0, 1, 1500)}
    )
    current = reference.sample(200, random_state=1).assign(date=DAY1)
    table = compute_drift(build_reference_profile(reference, model), current, model, "file")
    assert list(table["column"]) == ["income", "prediction", DATASET_COLUMN]
    assert table.set_index("column").loc["prediction", "method"] == "wasserstein"


def test_categories_are_compared_as_strings() -> None:
    model = _model(features={"categorical": ["code"]})
    # Nulls make pandas read the reference codes as floats: 1.0 must still equal "1".
    reference = pd.DataFrame({"code": [1, 2, 3, None] * 50, "prediction": ["0", "1"] * 100})
    current = pd.DataFrame(
        {"code": ["1", "2", "3", None] * 25, "prediction": [0, 1] * 50, "date": DAY1}
    )
    current["code"] = current["code"].astype(object)
    table = compute_drift(build_reference_profile(reference, model), current, model, "file")
    rows = table.set_index("column")
    assert rows.loc["code", "method"] == "chisquare"
    assert rows.loc["prediction", "method"] == "z"
    for column in ("code", "prediction"):  # same shares: statistic 0, p-value 1
        assert rows.loc[column, "statistic"] == pytest.approx(0.0, abs=1e-12)
        assert rows.loc[column, "p_value"] == pytest.approx(1.0)


def test_a_profile_only_serves_its_own_model() -> None:
    profile = build_reference_profile(_frame(np.random.default_rng(19), 50), _model())
    other = _model(model_id="other")
    current = _frame(np.random.default_rng(20), 10).assign(date=DAY1)
    with pytest.raises(ValueError, match="other"):
        compute_drift(profile, current, other, "file")
