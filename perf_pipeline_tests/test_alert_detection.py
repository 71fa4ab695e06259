"""Detection worth acting on, through the real `<model>/alerts` asset in Dagster.

Bands (reference chunks and trailing final days, each compared with a NumPy / scikit-learn
computation on the same data), `require_ci`, `persist_days`, per-threshold severity, the drift
effect-size floor and the models file's checks of the new keys. The `performance` partitions are
written directly in the estimators' output shape, so the rules are tested on exactly the rows
they read; days are long past, so every realized row is final.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from perf_pipeline.alerts.regressions import drift_alerts
from perf_pipeline.assets.reference import reference_asset
from perf_pipeline.config import ModelConfig, ModelsFileError, load_models
from perf_pipeline.drift.sql import compute_drift_sql
from perf_pipeline.estimation.sampling_error import CHUNKS
from perf_pipeline.lake import connect, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.schemas import DATA_QUALITY
from perf_pipeline_tests.alert_stage import (
    materialize_alerts,
    regression_alerts,
    write_judgeable_day,
)
from perf_pipeline_tests.landing_zone import binary_frame, write_reference_frame

DAY = dt.date(2025, 3, 3)  # a Monday, long final
HEADER = """models:
  m:
    task: binary_classification
    start_date: 2024-01-01
    features: {numerical: [amount]}
    label_delay_days: 1
    min_labelled_rows: 100
    thresholds:
"""


def _root(tmp_path: Path, thresholds: str) -> tuple[DataPaths, ModelConfig]:
    paths = DataPaths(tmp_path / "root")
    paths.root.mkdir(parents=True)
    paths.models_file.write_text(HEADER + thresholds, encoding="utf-8")
    return paths, load_models(paths.models_file)["m"]


def _row(day: dt.date, value: float, n: int, **extra: object) -> dict:
    row = {"model_id": "m", "date": day, "segment_column": "__all__", "segment_value": "__all__"}
    return row | {"metric": "roc_auc", "value": value, "n": n, "label_coverage": 1.0} | extra


def _write_day(paths: DataPaths, day: dt.date, rows: list[dict]) -> None:
    """The day's performance rows (realized unless said) and a gate that let it through."""
    write_judgeable_day(paths, "m", day, [{"is_estimated": False} | r for r in rows])


def _alerts(paths: DataPaths, day: dt.date) -> list[dict]:
    return regression_alerts(paths, "m", day)


def _trailing_history(
    paths: DataPaths, day: dt.date, days: int, step: int, rng: np.random.Generator
) -> list[float]:
    values = list(rng.normal(0.85, 0.01, days))
    for k, value in enumerate(values, start=1):
        earlier = day - dt.timedelta(days=step * k)
        _write_day(paths, earlier, [_row(earlier, value, 500)])
    return values


@pytest.mark.parametrize("same_weekday", [False, True])
def test_trailing_band_is_mean_and_sd_of_the_final_days_before(
    tmp_path: Path, same_weekday: bool
) -> None:
    flag = "true" if same_weekday else "false"
    paths, model = _root(
        tmp_path,
        f"      roc_auc: {{band: {{sigma: 3, baseline: trailing, days: 10, "
        f"same_weekday: {flag}}}}}\n",
    )
    step = 7 if same_weekday else 1
    values = _trailing_history(paths, DAY, 10, step, np.random.default_rng(5))
    if same_weekday:  # other weekdays in between are far off and must not count
        for k in range(1, 7):
            other = DAY - dt.timedelta(days=k)
            _write_day(paths, other, [_row(other, 0.2, 500)])
    # Beyond the window: far off, and must not count either.
    beyond = DAY - dt.timedelta(days=7 * 10 + 3)
    _write_day(paths, beyond, [_row(beyond, 0.1, 500)])
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))

    _write_day(paths, DAY, [_row(DAY, mean - 2.5 * sd, 500)])  # inside mean ± 3 sd
    materialize_alerts(paths, model, DAY, tmp_path / "home")
    assert _alerts(paths, DAY) == []

    _write_day(paths, DAY, [_row(DAY, mean - 3.5 * sd, 500)])
    materialize_alerts(paths, model, DAY, tmp_path / "home")
    (alert,) = _alerts(paths, DAY)
    assert alert["threshold"] == pytest.approx(mean - 3 * sd, rel=1e-9)
    assert alert["baseline"] == pytest.approx(mean, rel=1e-9)
    assert (alert["kind"], alert["severity"]) == ("performance", "critical")
    assert f"[{mean - 3 * sd:.4g}, {mean + 3 * sd:.4g}]" in alert["message"]
    assert "10 final" in alert["message"]


def test_reference_band_is_chunks_of_the_days_size(tmp_path: Path) -> None:
    """Chunks of the day's n when the day is small; a quarter of the reference, scaled to the
    day's n by √(m/n), when it is larger."""
    paths, model = _root(tmp_path, "      roc_auc: {band: {sigma: 3}}\n")
    rng = np.random.default_rng(8)
    reference = binary_frame(rng, 2000, DAY - dt.timedelta(days=400))
    write_reference_frame(paths, "m", reference)
    storage = PipelineStorage(data_root=str(paths.root))
    (tmp_path / "ref_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "ref_home")) as instance:
        assert dg.materialize(
            [reference_asset(model)], instance=instance, resources={"storage": storage}
        ).success

    ordered = reference.reset_index(drop=True)  # the stored reference keeps the file's order
    for offset, n in enumerate([300, 5000]):
        size = min(n, 2000 // 4)
        draw = np.random.default_rng(0)
        aucs = []
        for _ in range(CHUNKS):
            chunk = ordered.iloc[draw.choice(len(ordered), size=size, replace=False)]
            aucs.append(roc_auc_score(chunk["label"], chunk["score"]))
        sd = np.std(aucs, ddof=1) / np.sqrt(1 - size / 2000) * np.sqrt(size / n)
        low = np.mean(aucs) - 3 * sd
        day = DAY + dt.timedelta(days=offset)
        _write_day(paths, day, [_row(day, low - 0.01, n)])
        materialize_alerts(paths, model, day, tmp_path / "home")
        (alert,) = _alerts(paths, day)
        assert alert["threshold"] == pytest.approx(low, abs=1e-9)
        assert alert["baseline"] == pytest.approx(np.mean(aucs), abs=1e-9)
        assert f"reference chunks of {size} rows" in alert["message"]


def test_persistence_needs_consecutive_breaching_days(tmp_path: Path) -> None:
    """Breaches on days 0, 1, 3, 5, 6 (day 4 has no partition): one day is enough with
    persist_days 1; with 2, days 1 and 6 fire (3 follows a clean day, 5 a missing one)."""
    values = {0: 0.6, 1: 0.6, 2: 0.8, 3: 0.6, 5: 0.6, 6: 0.6}
    days = {k: DAY + dt.timedelta(days=k) for k in range(7)}
    for persist, fired in [(1, {0, 1, 3, 5, 6}), (2, {1, 6})]:
        paths, model = _root(
            tmp_path / str(persist), f"      roc_auc: {{min: 0.7, persist_days: {persist}}}\n"
        )
        for k, value in values.items():
            _write_day(paths, days[k], [_row(days[k], value, 500)])
        for k in values:
            materialize_alerts(paths, model, days[k], tmp_path / "home")
        raised = {k for k in values if _alerts(paths, days[k])}
        assert raised == fired
        if persist == 2:
            (alert,) = _alerts(paths, days[6])
            assert f"held on 2 consecutive days ({days[5]} to {days[6]})" in alert["message"]


def test_require_ci_suppresses_a_breach_the_interval_straddles(tmp_path: Path) -> None:
    paths, model = _root(
        tmp_path, "      roc_auc: {min: 0.7, require_ci: true, severity: warning}\n"
    )
    _write_day(paths, DAY, [_row(DAY, 0.68, 500, ci_low=0.64, ci_high=0.72)])
    materialize_alerts(paths, model, DAY, tmp_path / "home")
    assert _alerts(paths, DAY) == []

    _write_day(paths, DAY, [_row(DAY, 0.66, 500, ci_low=0.62, ci_high=0.695)])
    materialize_alerts(paths, model, DAY, tmp_path / "home")
    (alert,) = _alerts(paths, DAY)
    assert alert["severity"] == "warning"  # the threshold's own severity
    assert "95 % interval [0.62, 0.695] clear of it" in alert["message"]


def test_estimated_alerts_take_the_thresholds_severity_and_carry_a_root_cause(
    tmp_path: Path,
) -> None:
    """An estimate below the minimum on a day with no labels yet; its root cause names the
    worst segments of the estimated metric, the drifted feature and the failed expectation."""
    paths, model = _root(tmp_path, "      roc_auc: {min: 0.7, severity: critical}\n")
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    seg = {"segment_column": "channel", "is_estimated": True}
    rows = [
        _row(day, None, 0, label_coverage=0.0),
        _row(day, 0.6, 900, is_estimated=True),
        *(
            _row(day, v, n, segment_value=s, **seg)
            for s, v, n in [
                ("web", 0.5, 300),
                ("app", 0.65, 400),
                ("pos", 0.7, 150),
                ("atm", 0.8, 50),
            ]
        ),
        _row(day, 0.1, 300, segment_value="web", segment_column="channel"),  # realized: not it
    ]
    _write_day(paths, day, rows)
    con = connect()
    drift = pd.DataFrame(
        [
            {
                "column": "amount",
                "method": "ks",
                "statistic": 0.3,
                "p_value": 1e-9,
                "drifted": True,
                "psi": 0.4,
            },
            {
                "column": "__dataset__",
                "method": "share_of_drifted_columns",
                "statistic": 0.33,
                "drifted": False,
                "threshold": 0.5,
            },
        ]
    ).assign(model_id="m", date=day)
    from perf_pipeline.schemas import DRIFT

    write_frame_partitions(con, paths, "drift", "m", drift, DRIFT, [day])
    warning = {
        "model_id": "m",
        "date": day,
        "expectation": "amount_in_reference_range",
        "column": "amount",
    }
    warning |= {"success": False, "observed_value": "0.91 in range", "severity": "warning"}
    write_frame_partitions(
        con,
        paths,
        "data_quality",
        "m",
        pd.DataFrame([warning]),
        DATA_QUALITY,
        [day],
        "extra.parquet",
    )

    materialize_alerts(paths, model, day, tmp_path / "home")
    (alert,) = _alerts(paths, day)
    assert (alert["kind"], alert["severity"]) == ("estimated_performance", "critical")
    cause = json.loads(alert["root_cause"])
    assert [(s["segment_value"], s["value"], s["n"]) for s in cause["worst_segments"]] == [
        ("web", 0.5, 300),
        ("app", 0.65, 400),
        ("pos", 0.7, 150),
    ]
    assert [d["column"] for d in cause["drifted_features"]] == ["amount"]
    assert [q["expectation"] for q in cause["data_quality"]] == ["amount_in_reference_range"]
    assert alert["message"].endswith(
        " | root cause: drifted: amount (psi 0.4); worst segments: channel=web 0.5 (n 300), "
        "channel=app 0.65 (n 400), channel=pos 0.7 (n 150); data-quality warnings: "
        "amount_in_reference_range (0.91 in range)"
    )


def _drift_rows(model: ModelConfig, shift: float) -> pd.DataFrame:
    """Three of four features shifted by `shift` standard deviations, 1,000 rows a side (KS
    p-values, since the reference is not above 1,000 rows)."""
    rng = np.random.default_rng(2)
    columns = ["a", "b", "c", "d", "prediction"]
    reference = pd.DataFrame({c: rng.normal(0, 1, 1000) for c in columns})
    current = pd.DataFrame({c: rng.normal(0, 1, 1000) for c in columns})
    current[["a", "b", "c"]] += shift
    reference["date"], current["date"] = DAY - dt.timedelta(days=30), DAY
    con = duckdb.connect()
    con.register("reference_rows", reference)
    con.register("current_rows", current)
    return compute_drift_sql(con, model, "reference_rows", "current_rows", "file")


@pytest.mark.parametrize(("shift", "fires"), [(0.25, False), (1.5, True)])
def test_drift_effect_floor_needs_p_value_and_psi_to_agree(shift: float, fires: bool) -> None:
    plain = {"model_id": "m", "task": "regression", "start_date": DAY}
    plain["features"] = {"numerical": ["a", "b", "c", "d"]}
    model = ModelConfig(**plain, drift={"min_psi": 0.2})
    rows = _drift_rows(model, shift)
    shifted = rows[rows["column"].isin(["a", "b", "c"])]
    assert shifted["drifted"].all()  # the p-values call every shifted column drifted
    assert bool(rows[rows["column"] == "__dataset__"]["drifted"].iloc[0])
    assert drift_alerts(ModelConfig(**plain), DAY, rows)  # no floor: the table's verdict
    assert bool((shifted["psi"] >= 0.2).all()) is fires  # what the floor is compared with
    alerts = drift_alerts(model, DAY, rows)
    assert bool(alerts) is fires
    if fires:
        assert alerts[0].value == pytest.approx(3 / 5)
        assert "drifted with PSI >= 0.2" in alerts[0].message


@pytest.mark.parametrize(
    ("threshold", "key", "says"),
    [
        (
            "roc_auc: {min: 0.7, require_ci: true}",
            "thresholds.pr_auc.require_ci",
            "no confidence interval",
        ),
        (
            "roc_auc: {min: 0.7, severity: urgent}",
            "thresholds.roc_auc.severity",
            "'warning' or 'critical'",
        ),
        (
            "roc_auc: {min: 0.7, persist_days: 0}",
            "thresholds.roc_auc.persist_days",
            "greater than or equal to 1",
        ),
        ("roc_auc: {band: {sigma: 0}}", "thresholds.roc_auc.band.sigma", "greater than 0"),
        (
            "roc_auc: {band: {baseline: weekly}}",
            "thresholds.roc_auc.band.baseline",
            "'reference' or 'trailing'",
        ),
        ("roc_auc: {band: {sigmas: 3}}", "thresholds.roc_auc.band.sigmas", ""),
        ("roc_auc: {persist_days: 2}", "thresholds.roc_auc", "sets no bound"),
        (
            "drift_share: {max: 0.5, band: {sigma: 3}}",
            "thresholds.drift_share",
            "do not apply to drift_share",
        ),
    ],
)
def test_new_keys_are_checked_with_the_model_metric_and_key(
    tmp_path: Path, threshold: str, key: str, says: str
) -> None:
    threshold = threshold.replace("roc_auc: {min: 0.7, require_ci", "pr_auc: {min: 0.7, require_ci")
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(HEADER + f"      {threshold}\n", encoding="utf-8")
    with pytest.raises(ModelsFileError) as raised:
        load_models(paths.models_file)
    message = str(raised.value)
    assert "model 'm'" in message and key in message and says in message, message


def test_band_on_the_reference_needs_a_reference_file(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    text = HEADER.replace(
        "    thresholds:\n", "    reference: {source: trailing, days: 14}\n    thresholds:\n"
    )
    paths.models_file.write_text(text + "      roc_auc: {band: {sigma: 3}}\n", encoding="utf-8")
    with pytest.raises(
        ModelsFileError, match=r"thresholds\.roc_auc\.band\.baseline: 'reference' needs"
    ):
        load_models(paths.models_file)
    paths.models_file.write_text(
        text + "      roc_auc: {band: {sigma: 3, baseline: trailing}}\n", encoding="utf-8"
    )
    assert load_models(paths.models_file)["m"].thresholds["roc_auc"].band.baseline == "trailing"
