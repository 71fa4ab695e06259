"""The loss models read category codes as numbers; they estimate as well as declared categories.

scikit-learn re-encodes declared categorical features on every `predict`, which cost most of
DLE's time on a large day, so the codes now enter as plain numbers. The previous encoding (the
same trees with `categorical_features`) is fitted here on the same rows, and both are compared
per category with the realized mae (scikit-learn on the withheld labels) on a day whose noise
depends on a category in the middle of the vocabulary's order, the case a numeric split handles
worst.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error

from perf_pipeline.estimation import dle
from perf_pipeline.estimation.dle import design_matrix, fit_loss_model

NUMERICAL = ["x"]
CATEGORICAL = ["shop"]
# Most frequent first, so `b` gets code 1: between `a` (0) and `c` (2).
SHOPS, SHARES, NOISE = ["a", "b", "c", "d"], [0.4, 0.3, 0.2, 0.1], [1.0, 3.0, 1.0, 0.5]


def _rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    shop = rng.choice(SHOPS, n, p=SHARES)
    x = rng.normal(0, 1, n)
    scale = np.exp(0.4 * x) * np.array(NOISE)[np.searchsorted(SHOPS, shop)]
    prediction = 5 + 2 * x
    return pd.DataFrame(
        {"x": x, "shop": shop, "prediction": prediction, "label": prediction + rng.normal(0, scale)}
    )


def _declared_categories(reference: pd.DataFrame, codes: dle.LossModel):
    """The absolute-error model as it was fitted before: the same trees, categories declared,
    on the same training rows (the loss model's own split)."""
    labelled = reference.reset_index(drop=True)
    matrix = design_matrix(labelled, NUMERICAL, CATEGORICAL, codes.vocabulary)
    order = np.random.default_rng(dle._SEED).permutation(len(labelled))
    train = order[round(len(labelled) * dle.HOLDOUT_SHARE) :]
    target = np.abs(labelled["label"] - labelled["prediction"]).to_numpy()
    model = dle._regressor().set_params(categorical_features=[False, True, False])
    return model.fit(matrix[train], target[train])


def test_codes_estimate_each_category_as_well_as_declared_categories() -> None:
    rng = np.random.default_rng(11)
    reference = _rows(rng, 20_000)
    codes = fit_loss_model(reference, NUMERICAL, CATEGORICAL)
    assert codes is not None and codes.absolute.is_categorical_ is None
    declared = _declared_categories(reference, codes)
    day = _rows(rng, 20_000)
    by_codes, _ = codes.losses(day.drop(columns="label"))
    matrix = design_matrix(day, NUMERICAL, CATEGORICAL, codes.vocabulary)
    by_categories = np.clip(declared.predict(matrix), 0.0, None)
    for shop in SHOPS:
        rows = (day["shop"] == shop).to_numpy()
        realized = mean_absolute_error(day.loc[rows, "label"], day.loc[rows, "prediction"])
        error_codes = abs(by_codes[rows].mean() - realized)
        error_categories = abs(by_categories[rows].mean() - realized)
        # Each within 5 % of the realized mae, and the codes no worse than the categories
        # beyond a small allowance (2 % of the realized mae).
        assert error_codes <= 0.05 * realized, shop
        assert error_codes <= error_categories + 0.02 * realized, shop
    assert by_codes.mean() == pytest.approx(by_categories.mean(), rel=0.02)
