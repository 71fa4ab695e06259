"""The gate's statistics against scikit-learn and the metric registry, on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from perf_pipeline.config import ModelConfig
from perf_pipeline.config.gate import GATE_METRICS
from perf_pipeline.gate import bootstrap
from perf_pipeline.gate.compare import point_values
from perf_pipeline.gate.delong import delong_paired, delong_unpaired
from perf_pipeline.gate.kernels import KERNELS, Rows
from perf_pipeline.lake import connect


def _binary(n: int = 800, seed: int = 1) -> tuple[pd.DataFrame, Rows]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    score = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1).round(2)  # rounded: ties
    frame = pd.DataFrame(
        {"label": np.where(y, "1", "0"), "prediction": None, "score": score, "seg": "a"}
    )
    return frame, Rows(y, score, score >= 0.5)


MODEL = ModelConfig.model_validate(
    {
        "model_id": "m",
        "task": "binary_classification",
        "start_date": "2026-01-01",
        "segments": ["seg"],
    }
)

SKLEARN = {
    "accuracy": lambda y, p, d: skm.accuracy_score(y, d),
    "balanced_accuracy": lambda y, p, d: skm.balanced_accuracy_score(y, d),
    "brier": lambda y, p, d: skm.brier_score_loss(y, p),
    "f1": lambda y, p, d: skm.f1_score(y, d),
    "log_loss": lambda y, p, d: skm.log_loss(y, p),
    "pr_auc": lambda y, p, d: skm.average_precision_score(y, p),
    "precision": lambda y, p, d: skm.precision_score(y, d),
    "recall": lambda y, p, d: skm.recall_score(y, d),
    "roc_auc": lambda y, p, d: skm.roc_auc_score(y, p),
    "specificity": lambda y, p, d: skm.recall_score(y, d, pos_label=False),
}


def test_every_gated_metric_has_a_kernel() -> None:
    assert {m for names in GATE_METRICS.values() for m in names} == set(KERNELS)


@pytest.mark.parametrize("metric", GATE_METRICS["binary_classification"])
def test_binary_kernels_at_unit_weights_equal_sklearn_and_the_registry(metric: str) -> None:
    frame, rows = _binary()
    unit = np.ones((1, len(rows)))
    kernel = KERNELS[metric](unit, rows)[0]
    assert kernel == pytest.approx(SKLEARN[metric](rows.y, rows.p, rows.yhat), abs=1e-9)
    registry, _ = point_values(connect(), MODEL, frame)[("__all__", "__all__", metric)]
    assert kernel == pytest.approx(registry, abs=1e-9)


def test_regression_kernels_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 500)
    yhat = y + rng.normal(0, 2, 500)
    rows, unit = Rows(y, np.full(500, np.nan), yhat), np.ones((1, 500))
    assert KERNELS["mae"](unit, rows)[0] == pytest.approx(skm.mean_absolute_error(y, yhat))
    assert KERNELS["rmse"](unit, rows)[0] == pytest.approx(skm.mean_squared_error(y, yhat) ** 0.5)
    assert KERNELS["r2"](unit, rows)[0] == pytest.approx(skm.r2_score(y, yhat))


def test_weights_equal_the_metric_on_the_drawn_rows() -> None:
    """A replicate's weights are draw counts: the kernel equals sklearn on the repeated rows."""
    _, rows = _binary(300)
    w = bootstrap.draw_counts(len(rows), 3, np.random.default_rng(7))
    drawn = np.repeat(np.arange(len(rows)), w[1].astype(int))
    assert KERNELS["roc_auc"](w, rows)[1] == pytest.approx(
        skm.roc_auc_score(rows.y[drawn], rows.p[drawn])
    )
    assert KERNELS["pr_auc"](w, rows)[1] == pytest.approx(
        skm.average_precision_score(rows.y[drawn], rows.p[drawn])
    )


def test_delong_matches_sklearn_aucs_and_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    y = rng.random(n) < 0.3
    signal = y + rng.normal(0, 1, n)
    base, cand = signal + rng.normal(0, 1, n), signal + rng.normal(0, 0.6, n)
    result = delong_paired(y, base, cand)
    assert result.baseline == pytest.approx(skm.roc_auc_score(y, base))
    assert result.candidate == pytest.approx(skm.roc_auc_score(y, cand))
    rows_b, rows_c = Rows(y, base, base > 0), Rows(y, cand, cand > 0)
    diffs = bootstrap.differences(
        {"auc": (lambda w: KERNELS["roc_auc"](w, rows_b), lambda w: KERNELS["roc_auc"](w, rows_c))},
        n,
        None,
        2000,
        seed=0,
    )["auc"]
    assert np.mean(diffs) == pytest.approx(result.difference, abs=0.003)
    assert np.std(diffs) == pytest.approx(result.se, rel=0.1)
    # Pairing removes the shared signal's noise: the paired se is below the unpaired one.
    assert result.se < delong_unpaired(y, base, y, cand).se


def test_bootstrap_is_seeded() -> None:
    _, rows = _binary(200)
    stats = {"a": (lambda w: KERNELS["f1"](w, rows), lambda w: KERNELS["accuracy"](w, rows))}
    one = bootstrap.differences(stats, 200, None, 300, seed=4)["a"]
    two = bootstrap.differences(stats, 200, None, 300, seed=4)["a"]
    np.testing.assert_array_equal(one, two)


def test_policy_names_unknown_metrics_and_methods() -> None:
    base = {"model_id": "m", "task": "binary_classification", "start_date": "2026-01-01"}
    with pytest.raises(ValueError, match="did you mean 'roc_auc'"):
        ModelConfig.model_validate({**base, "gate": {"metrics": {"roc_aucc": {"max_worse": 0.1}}}})
    with pytest.raises(ValueError, match="unknown drift method 'wasserstien'"):
        ModelConfig.model_validate({**base, "gate": {"max_score_drift": {"method": "wasserstien"}}})
    model = ModelConfig.model_validate({**base, "gate": {"metrics": {"mae": {"max_worse": 1}}}})
    assert model.gate.problems_for_task("binary_classification") == [
        "gate.metrics.mae: not a binary_classification metric; valid: accuracy, "
        "balanced_accuracy, brier, f1, log_loss, pr_auc, precision, recall, roc_auc, specificity"
    ]


def _logged(ids: list[str], version: str, labels: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": ids,
            "model_version": version,
            "label": labels,
            "prediction": None,
            "score": np.linspace(0.1, 0.9, len(ids)),
            "seg": "a",
        }
    )


def test_shadow_rows_pair_by_request_key_and_take_the_served_label() -> None:
    from perf_pipeline.gate.pairing import compare_versions

    ids = [f"r-{i}" for i in range(6)]
    served = _logged(ids, "v1", ["1", "0", None, "1", "0", "0"])
    shadow = _logged([f"{i}#v2" for i in ids], "v2", [None] * 6)
    gi = compare_versions(MODEL, served, shadow, "v1", "v2", (None, None), "traffic")
    assert gi.paired and gi.counts["pairs"] == 6
    assert (
        gi.candidate["label"].tolist() == gi.baseline["label"].tolist() == ["1", "0", "1", "0", "0"]
    )  # r-2 has no label on either row: left out of both


def test_a_traffic_split_is_compared_unpaired() -> None:
    from perf_pipeline.gate.pairing import compare_versions

    one = _logged([f"a-{i}" for i in range(5)], "v1", ["1", "0", "1", "0", "0"])
    two = _logged([f"b-{i}" for i in range(4)], "v2", ["0", "1", None, "1"])
    gi = compare_versions(MODEL, one, two, "v1", "v2", (None, None), "traffic")
    assert not gi.paired
    assert (len(gi.baseline), len(gi.candidate)) == (5, 3)
