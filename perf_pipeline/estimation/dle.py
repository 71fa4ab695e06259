"""Direct loss estimation (DLE) for regression models: the loss model and its error.

A regression model's error on a day cannot be measured before its labels land, but how large
the error tends to be where the day's rows lie can be learnt from the reference, whose labels are
known. DLE (the method NannyML publishes) fits two "loss models" on the reference, from the
model's inputs and its prediction:

- one to the absolute error |y - ŷ|: the mean of its outputs over a day is the estimated mae;
- one to the squared error (y - ŷ)²: the estimated mse, and rmse = sqrt(estimated mse).

Both are scikit-learn `HistGradientBoostingRegressor`s with the squared-error loss, so each
predicts the conditional mean of its loss: averaged over a day's rows that is the expected
metric of that day. Numerical features enter as numbers, categorical ones as their codes in a
vocabulary stored with the models (most frequent value first; a value the reference never had
is missing), and the prediction as a number. The codes are plain numbers to the trees, not
declared categories: scikit-learn re-encodes declared categories on every `predict` (about 70 %
of the prediction time on a million rows), while a split on codes isolates a category in one or
two splits, for the same accuracy (`benchmarks/README.md`, `test_dle_codes.py`). Where the
error depends on the inputs (heteroscedastic noise, a region the model fits badly) the estimate
follows a covariate shift into that region; a constant error (the reference's mae) would not.
A large day is predicted on a stratified sample of its rows (`dle_sampling`).

A fifth of the reference (`HOLDOUT_SHARE`) is kept out of the fit to measure the loss models on
rows they never saw. The interval of an estimate on n rows is value ± 1.96·se_unit/√n, where
se_unit is the larger of two spreads over `CHUNKS` random chunks of `CHUNK_ROWS` rows (drawn
with replacement, so no finite-population shrinkage), each scaled by √chunk size:

- sampling: how much the realized metric moves between reference chunks (NannyML's sampling
  error: a day's realized value wanders this much around its expectation);
- loss model: how much the realized metric of a held-out chunk differs from its estimate (the
  sampling error plus what the loss models get wrong; larger when they fit poorly).

The estimate is wrong when P(y | x) changes (concept drift: the same inputs now carry another
error, e.g. demand that shifted with no feature showing it): the loss models only know the
reference's relation between inputs and error. It also lags a shift beyond the reference's
range of inputs (trees extrapolate flat) or into rows the reference barely holds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("mae", "mse", "rmse")
MIN_REFERENCE_ROWS = 500
HOLDOUT_SHARE = 0.2
CHUNKS = 500
CHUNK_ROWS = 500
# The trees bin every input into at most 255 bins, so each of the values kept has a bin of its
# own; rarer values are missing.
MAX_CATEGORIES = 250
# Two-sided 95 % normal quantile (the same constant as the realized intervals).
Z95 = 1.959963984540054
_SEED = 20240601
_MAX_TREES = 50
# Below this many rows the trees are fitted and evaluated on one thread: OpenMP's threads cost
# more than they save on small inputs, and far more when DuckDB or other runs hold the cores.
_PARALLEL_ROWS = 200_000


@dataclass(frozen=True)
class LossModel:
    """Two fitted loss models, the vocabulary they read categories with, and the per-row spread
    (`se_unit`) of each metric's estimate, from which every interval is scaled."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    vocabulary: tuple[tuple[str, ...], ...]
    absolute: Any
    squared: Any
    se_unit: Mapping[str, float]
    reference_rows: int

    def losses(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Estimated absolute and squared error of every row of `frame` (never negative)."""
        matrix = design_matrix(frame, self.numerical, self.categorical, self.vocabulary)
        return self.losses_of(matrix)

    def losses_of(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`losses` of rows already encoded (`design_matrix`, or the query of `design_sql`)."""
        if len(matrix) == 0:
            return np.empty(0), np.empty(0)
        with _threads_for(len(matrix)):
            absolute = np.clip(self.absolute.predict(matrix), 0.0, None)
            squared = np.clip(self.squared.predict(matrix), 0.0, None)
        return absolute, squared

    def interval(
        self, metric: str, value: float, n: int, sample_variance: float = 0.0
    ) -> tuple[float, float]:
        """value ± 1.96·√(se_unit²/n + sample_variance), the low end clipped at 0 (an error is
        never negative); `sample_variance` is what predicting a sample of the rows adds
        (`dle_sampling`), 0 when every row was predicted."""
        half = Z95 * math.sqrt(self.se_unit[metric] ** 2 / n + sample_variance)
        return max(value - half, 0.0), value + half


def vocabulary_of(frame: pd.DataFrame, categorical: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Each categorical feature's reference values, most frequent first (ties by value), at most
    `MAX_CATEGORIES`: the codes the loss models learnt, stored with them."""
    vocabulary = []
    for column in categorical:
        counts = frame[column].dropna().astype(str).value_counts()
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        vocabulary.append(tuple(value for value, _ in ordered[:MAX_CATEGORIES]))
    return tuple(vocabulary)


def design_matrix(
    frame: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    vocabulary: Sequence[Sequence[str]],
) -> np.ndarray:
    """Numerical features, category codes (unknown or NULL -> NaN, HGB's missing) and the
    prediction, as one float matrix in that column order."""
    columns = [pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in numerical]
    for column, values in zip(categorical, vocabulary, strict=True):
        codes = pd.Categorical(frame[column].astype("string"), categories=list(values)).codes
        columns.append(np.where(codes < 0, np.nan, codes).astype(float))
    columns.append(pd.to_numeric(frame["prediction"], errors="coerce").to_numpy(float))
    return np.column_stack(columns)


def design_sql(
    numerical: Sequence[str],
    categorical: Sequence[str],
    vocabulary: Sequence[Sequence[str]],
) -> list[str]:
    """The columns of `design_matrix` as DuckDB expressions, for rows that are never loaded
    into Python as text: a category is its position in the vocabulary through a TRY_CAST to
    an ENUM of it (NULL, read as NaN, when unknown), exactly as `pd.Categorical` codes it."""
    from perf_pipeline.sql import quote_identifier, quote_literal

    columns = [f"TRY_CAST({quote_identifier(c)} AS DOUBLE)" for c in numerical]
    for column, values in zip(categorical, vocabulary, strict=True):
        if not values:
            columns.append("CAST(NULL AS DOUBLE)")
            continue
        enum = "ENUM(" + ", ".join(quote_literal(v) for v in values) + ")"
        text = f"CAST({quote_identifier(column)} AS VARCHAR)"
        columns.append(f"CAST(enum_code(TRY_CAST({text} AS {enum})) AS DOUBLE)")
    columns.append(f"TRY_CAST({quote_identifier('prediction')} AS DOUBLE)")
    return columns


def fit_loss_model(
    frame: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]
) -> LossModel | None:
    """Fit both loss models on the labelled rows of `frame` (features, `prediction`, `label`);
    None when fewer than `MIN_REFERENCE_ROWS` rows are labelled: a loss model on so few rows
    would mostly learn their noise, and its interval would be meaningless."""
    labelled = frame[frame["label"].notna() & frame["prediction"].notna()].reset_index(drop=True)
    if len(labelled) < MIN_REFERENCE_ROWS:
        return None
    vocabulary = vocabulary_of(labelled, categorical)
    matrix = design_matrix(labelled, numerical, categorical, vocabulary)
    error = labelled["label"].to_numpy(float) - labelled["prediction"].to_numpy(float)
    absolute_error, squared_error = np.abs(error), error * error
    rng = np.random.default_rng(_SEED)
    order = rng.permutation(len(labelled))
    cut = round(len(labelled) * HOLDOUT_SHARE)
    holdout, train = order[:cut], order[cut:]
    with _threads_for(len(train)):
        absolute = _regressor().fit(matrix[train], absolute_error[train])
        squared = _regressor().fit(matrix[train], squared_error[train])
    loss_model = LossModel(
        tuple(numerical), tuple(categorical), vocabulary, absolute, squared, {}, len(labelled)
    )
    estimated = loss_model.losses(labelled.iloc[holdout])
    se_unit = interval_units(
        realized=(absolute_error, squared_error),
        held_out=(absolute_error[holdout], squared_error[holdout]),
        estimated=estimated,
        rng=rng,
    )
    return dataclasses.replace(loss_model, se_unit=se_unit)


def _threads_for(rows: int) -> Any:
    """A context that keeps scikit-learn's OpenMP to one thread for fewer than
    `_PARALLEL_ROWS` rows, and changes nothing above."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if rows < _PARALLEL_ROWS else None, user_api="openmp")


def _regressor() -> Any:
    """The loss model: gradient-boosted trees on the squared loss (a conditional mean).

    A loss is a noisy target, so the trees are few and coarse: large leaves (100 rows), a high
    learning rate, and early stopping on an internal tenth so a small reference is not
    memorised. Predicting costs time per tree and row (about 27 ms per tree for a million rows
    on two cores), so at most `_MAX_TREES` trees: more bought no accuracy on the benchmark.
    Category codes are numbers here (module docstring), so `predict` encodes nothing.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        learning_rate=0.3,
        max_iter=_MAX_TREES,
        max_leaf_nodes=31,
        min_samples_leaf=100,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=5,
        categorical_features=None,
        random_state=0,
    )


def _chunk_metrics(absolute: np.ndarray, squared: np.ndarray, index: np.ndarray) -> np.ndarray:
    """mae, mse and rmse of each chunk (one row of `index` per chunk), as (chunks, 3)."""
    mae, mse = absolute[index].mean(axis=1), squared[index].mean(axis=1)
    return np.column_stack([mae, mse, np.sqrt(mse)])


def interval_units(
    realized: tuple[np.ndarray, np.ndarray],
    held_out: tuple[np.ndarray, np.ndarray],
    estimated: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, float]:
    """Per metric, the larger of the sampling spread (realized metric between chunks of the
    whole reference) and the loss models' spread (realized minus estimated metric between
    chunks of the held-out rows), each sd·√m over `CHUNKS` chunks of m rows."""
    rows = min(CHUNK_ROWS, len(realized[0]))
    index = rng.integers(0, len(realized[0]), size=(CHUNKS, rows))
    sampling = _chunk_metrics(*realized, index).std(axis=0, ddof=1) * math.sqrt(rows)
    held_rows = min(CHUNK_ROWS, len(held_out[0]))
    held_index = rng.integers(0, len(held_out[0]), size=(CHUNKS, held_rows))
    residual = _chunk_metrics(*held_out, held_index) - _chunk_metrics(*estimated, held_index)
    model_error = residual.std(axis=0, ddof=1) * math.sqrt(held_rows)
    return {metric: float(max(sampling[i], model_error[i])) for i, metric in enumerate(METRICS)}
