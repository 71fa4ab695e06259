"""Performance before the labels land, through real Dagster runs of a model's daily job.

Each scenario writes a reference and a few days of prediction logs whose labels the test keeps,
runs the daily job over the days (every stage but the HTML report) with no label landed, then
lands every label on the day after the last one, ingests that arrival day and executes the run
the late-labels sensor asks for.
What the lake and the `performance` view say before and after is compared with the truth:

- a covariate shift of a calibrated classifier's scores towards 0.5 lowers its true accuracy:
  CBPE's estimate follows, the `estimated_performance` alert is raised before the labels and
  `confirmed` once they land, the realized `performance` alert following;
- concept drift (the labels follow another P(y | score) while the scores look as always) is the
  documented limit: the estimated roc_auc stays at the reference's and raises nothing; only the
  realized roc_auc, once the labels land, falls and alerts;
- a regression model with heteroscedastic noise: a day shifted into the noisy region gets an
  estimated mae (direct loss estimation) above the reference's and an estimated alert, which the
  realized mae then confirms.

Days sit just before today (UTC), with a label delay longer than that, so only label coverage
can make a day final (finality is judged against the clock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline_tests.landing_zone import (
    land_labels,
    write_prediction_log,
    write_reference_frame,
)
from perf_pipeline_tests.performance_snapshot import Snapshot, read_snapshot

TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=12)
ROWS_PER_DAY = 1000
REFERENCE_ROWS = 3000
# Every stage of the daily job but the HTML report (Evidently): estimation never reads it, and it
# is the slowest step of a run.
STAGES = ("reference", "predictions", "labels", "data_quality", "performance", "drift", "alerts")

pytestmark = pytest.mark.slow  # three scenarios of real runs: 30 s or more together


def _days(count: int) -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(count)]


def _models_yaml(model_id: str, task: str, features: str, thresholds: str) -> str:
    """A model judged on coverage alone: the 30-day delay outlasts every test day."""
    return f"""models:
  {model_id}:
    task: {task}
    features: {{numerical: [{features}]}}
    start_date: {START.isoformat()}
    label_delay_days: 30
    labels: {{final_coverage: 0.95}}
    min_labelled_rows: 100
    thresholds: {thresholds}
"""


def _log_columns(frame: pd.DataFrame, model_id: str, day: dt.date) -> pd.DataFrame:
    """Id, timestamp and version in front of a day's generated rows."""
    n = len(frame)
    frame.insert(0, "prediction_id", [f"{model_id}-{day}-{i}" for i in range(n)])
    stamps = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="s")
    frame.insert(1, "timestamp", stamps)
    frame.insert(2, "model_version", "v1")
    return frame


def _classifier_rows(
    rng: np.random.Generator, n: int, pull: float = 1.0, hidden_sd: float | None = None
) -> pd.DataFrame:
    """A binary classifier's rows. Without `hidden_sd` the scores are calibrated (label ~
    Bernoulli(score)); `pull` < 1 squeezes them towards 0.5, where the model is unsure, and the
    labels follow (a covariate shift). With `hidden_sd` the scores look as always but the labels
    depend mostly on a factor the model never sees (concept drift, as the part of the sample's
    `fraud_decay` that no estimate can see)."""
    raw = np.clip(rng.random(n), 1e-4, 1 - 1e-4)
    score = 0.5 + pull * (raw - 0.5)
    probability = score
    if hidden_sd is not None:
        logit = np.log(score / (1 - score))
        probability = 1 / (1 + np.exp(-(0.3 * logit + rng.normal(0, hidden_sd, n))))
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "label": (rng.random(n) < probability).astype(int),
        }
    )


def _regression_rows(rng: np.random.Generator, n: int, low: float = 0.0) -> pd.DataFrame:
    """A regression model's rows whose error grows with `x` (sd 0.5 + x, x uniform on
    [low, 4]): a larger `low` moves the day into the noisy region."""
    x = rng.uniform(low, 4.0, n)
    prediction = 10 + 3 * x
    label = prediction + rng.normal(0, 0.5 + x)
    return pd.DataFrame({"x": x, "prediction": prediction, "label": label})


@dataclass(frozen=True)
class Outcome:
    """A scenario's truth (every logged row with its label and `date`) and the two snapshots."""

    truth: pd.DataFrame
    reference: pd.DataFrame
    before: Snapshot
    after: Snapshot
    late_label_range: tuple[str, str]


def _late_labels_tick(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    paths: DataPaths,
    model_id: str,
) -> list[dg.RunRequest]:
    """The runs the late-labels sensor asks for on a first tick (every labels materialization
    read)."""
    sensor = defs.resolve_sensor_def(f"{model_id}__late_labels")
    context = dg.build_sensor_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        resources={"storage": PipelineStorage(data_root=str(paths.root))},
    )
    return list(sensor.evaluate_tick(context).run_requests or [])


def _write_root(
    root: Path,
    model_id: str,
    models_yaml: str,
    reference: pd.DataFrame,
    logs: dict[dt.date, pd.DataFrame],
) -> DataPaths:
    paths = DataPaths(root)
    root.mkdir()
    paths.models_file.write_text(models_yaml, encoding="utf-8")
    write_reference_frame(paths, model_id, reference)
    for day, frame in logs.items():
        write_prediction_log(paths, model_id, day, frame)
    return paths


def run_scenario(
    folder: Path,
    model_id: str,
    models_yaml: str,
    reference: pd.DataFrame,
    logs: dict[dt.date, pd.DataFrame],
) -> Outcome:
    """Run the days with no label, then land them all the day after the last and run what the
    late-labels sensor asks for. The data root and the Dagster home are made in `folder`."""
    paths = _write_root(folder / "root", model_id, models_yaml, reference, logs)
    days = sorted(logs)
    defs = build_definitions(paths.root)
    job = defs.resolve_job_def(daily_job_name(model_id))
    (folder / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(folder / "dagster_home")) as instance:
        range_tags = {
            ASSET_PARTITION_RANGE_START_TAG: days[0].isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: days[-1].isoformat(),
        }
        stages = [dg.AssetKey([model_id, stage]) for stage in STAGES]
        assert job.execute_in_process(
            instance=instance, tags=range_tags, asset_selection=stages
        ).success
        before = read_snapshot(paths, model_id)

        truth = pd.concat([f.assign(date=d) for d, f in logs.items()], ignore_index=True)
        arrival = days[-1] + dt.timedelta(days=1)
        land_labels(paths, model_id, arrival, truth)
        labels = dg.AssetKey([model_id, "labels"])
        assert job.execute_in_process(
            instance=instance, partition_key=arrival.isoformat(), asset_selection=[labels]
        ).success
        (request,) = _late_labels_tick(defs, instance, paths, model_id)
        assert job.execute_in_process(
            instance=instance, tags=request.tags, asset_selection=request.asset_selection
        ).success
        # Every labelled day was recomputed after its labels: reading all the labels again
        # (no cursor), the sensor finds nothing stale.
        assert _late_labels_tick(defs, instance, paths, model_id) == []
    late_range = (
        request.tags[ASSET_PARTITION_RANGE_START_TAG],
        request.tags[ASSET_PARTITION_RANGE_END_TAG],
    )
    return Outcome(truth, reference, before, read_snapshot(paths, model_id), late_range)


# 1. Covariate shift: the scores of days 4-5 move towards 0.5 and true accuracy falls with them.

SHIFT_MODEL = "shifted"
SHIFT_DAYS = _days(5)
SHIFTED = SHIFT_DAYS[3:]
ACCURACY_MIN = 0.65  # calibrated uniform scores: 0.75; pulled to 0.5 ± 0.075: about 0.54


def covariate_shift_scenario(folder: Path) -> Outcome:
    rng = np.random.default_rng(41)
    reference = _log_columns(_classifier_rows(rng, REFERENCE_ROWS), SHIFT_MODEL, START)
    logs = {
        day: _log_columns(
            _classifier_rows(rng, ROWS_PER_DAY, pull=0.15 if day in SHIFTED else 1.0),
            SHIFT_MODEL,
            day,
        )
        for day in SHIFT_DAYS
    }
    yaml = _models_yaml(
        SHIFT_MODEL, "binary_classification", "amount", f"{{accuracy: {{min: {ACCURACY_MIN}}}}}"
    )
    return run_scenario(folder, SHIFT_MODEL, yaml, reference, logs)


@pytest.fixture(scope="module")
def covariate_shift(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return covariate_shift_scenario(tmp_path_factory.mktemp("covariate_shift"))


def _sklearn_accuracy(truth: pd.DataFrame) -> pd.Series:
    return truth.groupby("date").apply(
        lambda g: accuracy_score(g["label"], (g["score"] >= 0.5).astype(int)),
        include_groups=False,
    )


def test_covariate_shift_is_flagged_by_the_estimate_before_any_label(
    covariate_shift: Outcome,
) -> None:
    before = covariate_shift.before
    estimated = before.overall("accuracy", estimated=True)
    assert list(estimated.index) == SHIFT_DAYS
    assert (estimated["status"] == "estimated").all()
    assert (estimated["n"] == ROWS_PER_DAY).all()
    assert (estimated.loc[SHIFTED, "value"] < ACCURACY_MIN).all()
    assert (estimated.drop(SHIFTED)["value"] > ACCURACY_MIN).all()

    realized = before.overall("accuracy", estimated=False)
    assert (realized["n"] == 0).all() and realized["value"].isna().all()
    assert (realized["label_coverage"] == 0).all()
    assert (realized["status"] == "provisional").all()

    assert set(before.alerts["date"]) == set(SHIFTED)  # days 1-3 raise nothing at all
    flagged = before.alerts_of("estimated_performance")
    assert list(flagged.index) == SHIFTED
    assert (flagged["metric_or_column"] == "accuracy").all()
    assert (flagged["status"] == "open").all()
    assert (flagged["severity"] == "warning").all()
    assert (flagged["threshold"] == ACCURACY_MIN).all()
    assert before.alerts_of("performance").empty


def test_covariate_shift_alert_is_confirmed_once_the_labels_land(
    covariate_shift: Outcome,
) -> None:
    assert covariate_shift.late_label_range == (
        SHIFT_DAYS[0].isoformat(),
        SHIFT_DAYS[-1].isoformat(),
    )
    after = covariate_shift.after
    realized = after.overall("accuracy", estimated=False)
    assert (realized["label_coverage"] == 1.0).all()
    assert (realized["n"] == ROWS_PER_DAY).all()
    assert (realized["status"] == "final").all()
    expected = _sklearn_accuracy(covariate_shift.truth)
    np.testing.assert_allclose(realized["value"], expected.loc[realized.index], rtol=1e-12)

    assert set(after.alerts["date"]) == set(SHIFTED)
    raised = after.alerts_of("performance")
    assert list(raised.index) == SHIFTED
    assert (raised["metric_or_column"] == "accuracy").all()
    assert (raised["status"] == "open").all() and (raised["severity"] == "critical").all()

    confirmed = after.alerts_of("estimated_performance")
    first = covariate_shift.before.alerts_of("estimated_performance")
    assert list(confirmed["alert_id"]) == list(first["alert_id"])
    assert (confirmed["status"] == "confirmed").all()
    assert list(confirmed["first_seen_at"]) == list(first["first_seen_at"])
    for day in SHIFTED:
        assert confirmed.loc[day, "message"].startswith(
            first.loc[day, "message"] + " => confirmed: the final realized accuracy"
        )


def test_covariate_shift_estimates_match_sklearn_within_their_intervals(
    covariate_shift: Outcome,
) -> None:
    """Each day's estimated accuracy against scikit-learn's on the same rows, labels known."""
    estimated = covariate_shift.before.overall("accuracy", estimated=True)
    realized = _sklearn_accuracy(covariate_shift.truth).loc[estimated.index]
    inside = (estimated["ci_low"] <= realized) & (realized <= estimated["ci_high"])
    assert inside.sum() >= len(SHIFT_DAYS) - 1, pd.DataFrame(
        {"estimated": estimated["value"], "realized": realized, "inside": inside}
    )
    assert (estimated["ci_low"] < estimated["value"]).all()
    assert (estimated["value"] < estimated["ci_high"]).all()
    assert (np.abs(estimated["value"] - realized) < 0.05).all()
    # The scores are calibrated, so given them a day's expected accuracy is the mean of
    # max(score, 1 - score): what the estimate must reproduce, whatever the labels drew.
    truth = covariate_shift.truth
    expected = truth.groupby("date")["score"].apply(lambda s: np.maximum(s, 1 - s).mean())
    np.testing.assert_allclose(estimated["value"], expected.loc[estimated.index], atol=0.01)
    # The estimate itself followed the fall (about 0.2), not only its alert.
    drop = estimated.drop(SHIFTED)["value"].mean() - estimated.loc[SHIFTED, "value"].mean()
    true_drop = realized.drop(SHIFTED).mean() - realized.loc[SHIFTED].mean()
    assert drop == pytest.approx(true_drop, abs=0.04)
    assert true_drop > 0.15


# 2. Concept drift: days 3-4 keep the scores' distribution, but the labels follow another
#    P(y | score). The estimate cannot see it (README, "When it is wrong"); the labels do.

CONCEPT_MODEL = "concept"
CONCEPT_DAYS = _days(4)
DRIFTED = CONCEPT_DAYS[2:]
AUC_MIN = 0.7  # calibrated uniform scores: about 0.83; the hidden factor brings it to about 0.6


def concept_drift_scenario(folder: Path) -> Outcome:
    rng = np.random.default_rng(43)
    reference = _log_columns(_classifier_rows(rng, REFERENCE_ROWS), CONCEPT_MODEL, START)
    logs = {
        day: _log_columns(
            _classifier_rows(rng, ROWS_PER_DAY, hidden_sd=1.8 if day in DRIFTED else None),
            CONCEPT_MODEL,
            day,
        )
        for day in CONCEPT_DAYS
    }
    yaml = _models_yaml(
        CONCEPT_MODEL, "binary_classification", "amount", f"{{roc_auc: {{min: {AUC_MIN}}}}}"
    )
    return run_scenario(folder, CONCEPT_MODEL, yaml, reference, logs)


@pytest.fixture(scope="module")
def concept_drift(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return concept_drift_scenario(tmp_path_factory.mktemp("concept_drift"))


def test_concept_drift_is_not_seen_by_the_estimate(concept_drift: Outcome) -> None:
    """The documented limit: the estimate of a drifted day stays at the reference's roc_auc."""
    reference = concept_drift.reference
    reference_auc = roc_auc_score(reference["label"], reference["score"])
    estimated = concept_drift.before.overall("roc_auc", estimated=True)
    assert list(estimated.index) == CONCEPT_DAYS
    for day in DRIFTED:
        row = estimated.loc[day]
        assert row["ci_low"] <= reference_auc <= row["ci_high"], (day, row, reference_auc)
    assert concept_drift.before.alerts.empty
    # The labels landed: still no estimated alert, the estimate's days are settled by the labels.
    assert concept_drift.after.alerts_of("estimated_performance").empty


def test_concept_drift_shows_in_the_realized_roc_auc_once_labels_land(
    concept_drift: Outcome,
) -> None:
    assert concept_drift.late_label_range == (
        CONCEPT_DAYS[0].isoformat(),
        CONCEPT_DAYS[-1].isoformat(),
    )
    after = concept_drift.after
    realized = after.overall("roc_auc", estimated=False)
    truth = concept_drift.truth
    expected = truth.groupby("date").apply(
        lambda g: roc_auc_score(g["label"], g["score"]), include_groups=False
    )
    np.testing.assert_allclose(realized["value"], expected.loc[realized.index], rtol=1e-9)
    assert (realized["status"] == "final").all()
    estimated = concept_drift.before.overall("roc_auc", estimated=True)
    assert (realized.loc[DRIFTED, "value"] < estimated.loc[DRIFTED, "ci_low"] - 0.1).all()

    raised = after.alerts_of("performance")
    assert list(raised.index) == DRIFTED
    assert (raised["metric_or_column"] == "roc_auc").all()
    assert set(after.alerts["kind"]) == {"performance"}


# 3. Regression: day 4's inputs move into the noisy region (direct loss estimation).

REGRESSION_MODEL = "demand"
REGRESSION_DAYS = _days(4)
NOISY = REGRESSION_DAYS[3]
MAE_MAX = 2.5  # x uniform on [0, 4]: mae about 2.0; on [2.5, 4]: about 3.0


def regression_shift_scenario(folder: Path) -> Outcome:
    rng = np.random.default_rng(47)
    reference = _log_columns(_regression_rows(rng, REFERENCE_ROWS), REGRESSION_MODEL, START)
    logs = {
        day: _log_columns(
            _regression_rows(rng, ROWS_PER_DAY, low=2.5 if day == NOISY else 0.0),
            REGRESSION_MODEL,
            day,
        )
        for day in REGRESSION_DAYS
    }
    yaml = _models_yaml(REGRESSION_MODEL, "regression", "x", f"{{mae: {{max: {MAE_MAX}}}}}")
    return run_scenario(folder, REGRESSION_MODEL, yaml, reference, logs)


@pytest.fixture(scope="module")
def regression_shift(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return regression_shift_scenario(tmp_path_factory.mktemp("regression_shift"))


def _sklearn_mae(truth: pd.DataFrame) -> pd.Series:
    return truth.groupby("date").apply(
        lambda g: mean_absolute_error(g["label"], g["prediction"]), include_groups=False
    )


def test_regression_shift_is_estimated_and_flagged_before_the_labels(
    regression_shift: Outcome,
) -> None:
    reference = regression_shift.reference
    reference_mae = mean_absolute_error(reference["label"], reference["prediction"])
    before = regression_shift.before
    estimated = before.overall("mae", estimated=True)
    assert list(estimated.index) == REGRESSION_DAYS
    assert estimated.loc[NOISY, "ci_low"] > reference_mae
    assert estimated.loc[NOISY, "value"] > MAE_MAX
    assert (estimated.drop(NOISY)["value"] < MAE_MAX).all()

    realized = _sklearn_mae(regression_shift.truth).loc[estimated.index]
    inside = (estimated["ci_low"] <= realized) & (realized <= estimated["ci_high"])
    assert inside.sum() >= len(REGRESSION_DAYS) - 1, pd.DataFrame(
        {"estimated": estimated["value"], "realized": realized, "inside": inside}
    )
    # Better than the reference's mae taken as every day's value (a constant error).
    assert (
        np.abs(estimated["value"] - realized).mean() < 0.5 * np.abs(reference_mae - realized).mean()
    )

    assert set(before.alerts["date"]) <= {NOISY}
    flagged = before.alerts_of("estimated_performance")
    assert list(flagged.index) == [NOISY]
    assert list(flagged["metric_or_column"]) == ["mae"]
    assert list(flagged["status"]) == ["open"]
    assert before.alerts_of("performance").empty


def test_regression_alert_is_confirmed_once_the_labels_land(regression_shift: Outcome) -> None:
    assert regression_shift.late_label_range == (
        REGRESSION_DAYS[0].isoformat(),
        REGRESSION_DAYS[-1].isoformat(),
    )
    after = regression_shift.after
    realized = after.overall("mae", estimated=False)
    expected = _sklearn_mae(regression_shift.truth)
    np.testing.assert_allclose(realized["value"], expected.loc[realized.index], rtol=1e-9)
    assert (realized["status"] == "final").all()

    raised = after.alerts_of("performance")
    assert list(raised.index) == [NOISY]
    assert list(raised["metric_or_column"]) == ["mae"]
    confirmed = after.alerts_of("estimated_performance")
    first = regression_shift.before.alerts_of("estimated_performance")
    assert list(confirmed["alert_id"]) == list(first["alert_id"])
    assert list(confirmed["status"]) == ["confirmed"]
    assert set(after.alerts["date"]) <= {NOISY}
