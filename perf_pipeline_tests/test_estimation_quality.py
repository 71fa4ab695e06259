"""The estimator held to the final realized values: the `estimation_quality` table and the
`estimator_quality` alerts, through the real `<model>/alerts` asset in Dagster.

The `performance` partitions are written directly (`schemas.PERFORMANCE`, the shape the
estimators write) so the rule is tested on exactly the rows it reads. Each day's estimate is the
realized value plus z standard errors, its interval ± 1.96 standard errors, so the realized value
falls outside exactly on the days with |z| > 1.96. Days are placed relative to today (UTC), since
finality is judged against the clock; the expected numbers are computed here, by hand and with
`scipy.stats.binomtest`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.alerts.estimator_quality import binomial_tail, fewest_tripping_misses
from perf_pipeline.alerts.evaluate import evaluate_days
from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect, day_files, read_files_sql, write_frame_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.gate import GATE_FILE
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.schemas import DATA_QUALITY, PERFORMANCE
from perf_pipeline.tables.estimation_quality import SCHEMA

TODAY = dt.datetime.now(dt.UTC).date()
FIRST = TODAY - dt.timedelta(days=40)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(20)]
# metric: (level of the realized value, the estimate's standard error)
METRICS = {"roc_auc": (0.86, 0.010), "accuracy": (0.93, 0.006)}
ROWS, LABELLED = 3000, 2850  # coverage 0.95: final whatever today is
# Standardized errors of a calibrated estimator: one miss (day 7, |z| > 1.96) in 20 days.
CALIBRATED = [0.3, -0.8, 1.1, -0.2, 0.5, -1.4, 0.9, 2.4, -0.6, 0.1]
CALIBRATED += [-1.0, 0.7, -0.4, 1.5, -0.9, 0.2, -1.7, 0.6, -0.3, 1.2]
MODELS = """models:
  m:
    task: binary_classification
    start_date: {start}
    features: {{numerical: [amount]}}
    label_delay_days: 20
    min_labelled_rows: 100
    labels: {{final_coverage: 0.9}}
{estimation}"""


def _configure(
    paths: DataPaths, estimation: str = "    estimation: {alert: true}\n"
) -> ModelConfig:
    text = MODELS.format(start=(FIRST - dt.timedelta(days=5)).isoformat(), estimation=estimation)
    paths.models_file.write_text(text, encoding="utf-8")
    return load_models(paths.models_file)["m"]


@pytest.fixture
def root(tmp_path: Path) -> DataPaths:
    paths = DataPaths(tmp_path / "root")
    paths.root.mkdir()
    _configure(paths)
    return paths


def _rows(day: dt.date, metric: str, z: float, labelled: int) -> list[dict]:
    """A day's overall realized and estimated rows of `metric`: estimate = realized + z·se."""
    level, se = METRICS[metric]
    realized = level - 0.002 * (day.toordinal() % 3)
    estimate = realized + z * se
    base = {"model_id": "m", "date": day, "segment_column": "__all__", "segment_value": "__all__"}
    base |= {"metric": metric, "label_coverage": labelled / ROWS}
    return [
        base | {"value": realized, "n": labelled, "is_estimated": False},
        base
        | {"value": estimate, "n": ROWS, "is_estimated": True}
        | {"ci_low": estimate - 1.96 * se, "ci_high": estimate + 1.96 * se},
    ]


def _write_day(paths: DataPaths, day: dt.date, z: float, labelled: int = LABELLED) -> None:
    """The day's performance partition (two metrics, plus rows the table must ignore) and a
    gate verdict that let it through."""
    rows = [r for metric in METRICS for r in _rows(day, metric, z, labelled)]
    segment = {"segment_column": "channel", "segment_value": "web"}
    rows += [r | segment for r in _rows(day, "roc_auc", 9.0, labelled)]  # not overall
    base = {"model_id": "m", "date": day, "segment_column": "__all__", "segment_value": "__all__"}
    base |= {"label_coverage": labelled / ROWS}
    rows += [
        base | {"metric": "specificity", "value": 0.9, "n": ROWS, "is_estimated": True},
        base | {"metric": "specificity", "value": None, "n": 0, "is_estimated": False},
        base | {"metric": "log_loss", "value": 0.3, "n": labelled, "is_estimated": False},
    ]
    con = connect()
    frame = pd.DataFrame(rows)
    write_frame_partitions(con, paths, "performance", "m", frame, PERFORMANCE, [day])
    passed = {"model_id": "m", "date": day, "expectation": "logs_present", "success": True}
    passed |= {"severity": "error", "unexpected_count": 0}
    write_frame_partitions(
        con, paths, "data_quality", "m", pd.DataFrame([passed]), DATA_QUALITY, [day], GATE_FILE
    )


def _write_days(paths: DataPaths, zs: list[float]) -> None:
    for day, z in zip(DAYS, zs, strict=True):
        _write_day(paths, day, z)


def _drifting(first_bad: int, z: float) -> list[float]:
    return CALIBRATED[:first_bad] + [z] * (len(DAYS) - first_bad)


def _materialize(paths: DataPaths, model: ModelConfig, first: dt.date, last: dt.date, home: Path):
    """The alerts asset of the real definitions over `first..last`, in one run."""
    home.mkdir(exist_ok=True)
    defs = build_definitions(paths.root)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize(
            [defs.resolve_assets_def(dg.AssetKey(["m", "alerts"]))],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
        assert result.success
        records = instance.fetch_materializations(dg.AssetKey(["m", "alerts"]), limit=200)
        return {r.partition_key for r in records.records}


def _table(paths: DataPaths) -> pd.DataFrame:
    files = day_files(paths, "estimation_quality", "m", [*DAYS, *_recent()])
    frame = connect().execute(f"SELECT * FROM {read_files_sql(files)}").df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame.sort_values(["date", "metric"], ignore_index=True)


def _estimator_alerts(paths: DataPaths) -> pd.DataFrame:
    files = day_files(paths, "alerts", "m", DAYS)
    frame = connect().execute(f"SELECT * FROM {read_files_sql(files)}").df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame = frame[frame["kind"] == "estimator_quality"]
    return frame.sort_values(["date", "metric_or_column"], ignore_index=True)


def _recent() -> list[dt.date]:
    return [TODAY - dt.timedelta(days=k) for k in (3, 2, 1)]


def _expected_verdict(zs: list[float], metric: str, end: int, window: int) -> dict:
    """The window of `window` days ending on day `end`, by hand: misses, p-value, mean errors."""
    from scipy.stats import binomtest

    _, se = METRICS[metric]
    z = np.array(zs[end - window + 1 : end + 1])
    misses = int((np.abs(z) > 1.96).sum())
    p_value = binomtest(misses, window, 0.05, alternative="greater").pvalue
    mean_abs_error = float(np.mean(np.abs(z) * se))
    return {"misses": misses, "p": p_value, "mae": mean_abs_error, "limit": 2 * se}


def test_a_calibrated_estimator_has_its_rows_and_raises_nothing(
    root: DataPaths, tmp_path: Path
) -> None:
    """(a) Estimates that track the realized values within their intervals."""
    model = load_models(root.models_file)["m"]
    _write_days(root, CALIBRATED)

    _materialize(root, model, DAYS[0], DAYS[-1], tmp_path / "home")

    table = _table(root)
    assert list(table.columns) == list(SCHEMA)
    assert len(table) == len(DAYS) * len(METRICS)  # overall, both values present: no other row
    assert set(table["metric"]) == set(METRICS)
    assert set(table["segment_column"]) == set(table["segment_value"]) == {"__all__"}
    assert table["inside_interval"].mean() == pytest.approx(19 / 20)
    assert set(table[~table["inside_interval"]]["date"]) == {DAYS[7]}
    for metric, (_, se) in METRICS.items():
        rows = table[table["metric"] == metric]
        np.testing.assert_allclose(rows["error"], np.array(CALIBRATED) * se, atol=1e-12)
        np.testing.assert_allclose(rows["abs_error"], np.abs(rows["error"]))
        np.testing.assert_allclose(rows["estimated"] - rows["realized"], rows["error"])
        np.testing.assert_allclose(rows["ci_high"] - rows["ci_low"], 2 * 1.96 * se)
    assert set(table["n_estimated"]) == {ROWS} and set(table["n_labelled"]) == {LABELLED}
    assert _estimator_alerts(root).empty


def test_an_estimator_gone_wrong_alerts_once_per_metric_on_the_day_it_trips(
    root: DataPaths, tmp_path: Path
) -> None:
    """(b) The last 10 days' realized values fall far below the estimates (8 standard errors):
    the first full 14-day window (days 0-13) holds 5 misses; one alert per metric, that day."""
    model = load_models(root.models_file)["m"]
    zs = _drifting(10, 8.0)
    _write_days(root, zs)

    _materialize(root, model, DAYS[0], DAYS[-1], tmp_path / "home")

    alerts = _estimator_alerts(root)
    assert list(zip(alerts["date"], alerts["metric_or_column"], strict=True)) == [
        (DAYS[13], "accuracy"),
        (DAYS[13], "roc_auc"),
    ]
    assert set(alerts["severity"]) == {"warning"} and set(alerts["status"]) == {"open"}
    for alert in alerts.to_dict("records"):
        expected = _expected_verdict(zs, alert["metric_or_column"], 13, 14)
        assert expected["misses"] == 5 and expected["p"] < 0.01
        assert alert["value"] == pytest.approx(5 / 14)
        assert alert["baseline"] == 0.05
        assert alert["threshold"] == pytest.approx(4 / 14)  # P(X >= 4 | 14) = 0.0042 < 0.01
        message = alert["message"]
        assert f"m {DAYS[13]}: the {alert['metric_or_column']} estimate" in message
        assert f"over the last 14 final days ({DAYS[0]} to {DAYS[13]})" in message
        assert "(too many misses and errors too large)" in message
        assert "on 5 of 14 days (miss rate 35.7%;" in message
        assert f"P(X >= 5 | 14, 0.05) = {expected['p']:.3g} < 0.01" in message
        assert f"mean absolute error {expected['mae']:.4g}" in message
        assert f"against a limit of {expected['limit']:.4g}" in message


def test_the_window_is_configurable_and_trips_on_misses_alone(root: DataPaths) -> None:
    """Realized values just outside (2.5 standard errors) from day 10, a 7-day window: days
    7, 10 and 11 miss in the window ending day 11 (P(X >= 3 | 7) = 0.0038), while the mean
    error stays under 2 standard errors."""
    model = _configure(
        root, "    estimation: {window_days: 7, max_miss_rate_p: 0.01, alert: true}\n"
    )
    zs = _drifting(10, 2.5)
    _write_days(root, zs)

    settled = evaluate_days(connect(), root, model, DAYS)

    raised = [s.alert for s in settled if s.alert.kind == "estimator_quality"]
    assert [(a.date, a.metric_or_column) for a in raised] == [
        (DAYS[11], "accuracy"),
        (DAYS[11], "roc_auc"),
    ]
    earlier = [_expected_verdict(zs, "roc_auc", end, 7) for end in range(6, 11)]
    assert all(v["p"] >= 0.01 and v["mae"] <= v["limit"] for v in earlier)
    expected = _expected_verdict(zs, "roc_auc", 11, 7)
    assert (expected["misses"], expected["mae"] < expected["limit"]) == (3, True)
    roc_auc = raised[1]
    assert "(too many misses)" in roc_auc.message
    assert f"= {expected['p']:.3g} < 0.01" in roc_auc.message
    assert roc_auc.threshold == pytest.approx(3 / 7)


def test_one_huge_error_trips_the_error_rule_alone(root: DataPaths) -> None:
    """A single day 40 standard errors off: 2 misses in 14 is not unusual (p = 0.15), but the
    window's mean absolute error passes twice the mean standard error."""
    model = load_models(root.models_file)["m"]
    zs = [*CALIBRATED]
    zs[15] = -40.0
    _write_days(root, zs)

    settled = evaluate_days(connect(), root, model, DAYS)

    raised = [s.alert for s in settled if s.alert.kind == "estimator_quality"]
    assert [(a.date, a.metric_or_column) for a in raised] == [
        (DAYS[15], "accuracy"),
        (DAYS[15], "roc_auc"),
    ]
    expected = _expected_verdict(zs, "accuracy", 15, 14)
    assert expected["misses"] == 2 and expected["p"] >= 0.01
    assert "(errors too large)" in raised[0].message
    assert f"= {expected['p']:.3g} >= 0.01" in raised[0].message
    assert f"mean absolute error {expected['mae']:.4g}" in raised[0].message


def test_provisional_days_get_no_rows_until_they_are_final(root: DataPaths) -> None:
    """(c) Recent days with half their labels are provisional: judged, but no rows."""
    model = load_models(root.models_file)["m"]
    _write_days(root, CALIBRATED)
    recent = _recent()
    for day in recent:
        _write_day(root, day, 0.5, labelled=ROWS // 2)

    evaluate_days(connect(), root, model, [*DAYS, *recent])

    assert set(_table(root)["date"]) == set(DAYS)
    assert all(day_files(root, "estimation_quality", "m", [d]) for d in recent)  # empty files

    _write_day(root, recent[0], 0.5)  # the labels land: coverage 0.95, final
    evaluate_days(connect(), root, model, [recent[0]])
    assert set(_table(root)["date"]) == {*DAYS, recent[0]}

    _write_day(root, recent[0], 0.5, labelled=ROWS // 2)  # recomputed: provisional again
    evaluate_days(connect(), root, model, [recent[0]])
    assert set(_table(root)["date"]) == set(DAYS)


def test_too_few_labels_are_recorded_but_not_judged(root: DataPaths) -> None:
    """A final day on fewer than `min_labelled_rows` labels (its delay passed) has its row, but
    a window skips it: its realized value measures the labels' noise."""
    model = load_models(root.models_file)["m"]
    zs = _drifting(10, 8.0)
    _write_days(root, zs)
    for i in range(10, 20):
        _write_day(root, DAYS[i], 8.0, labelled=50)

    settled = evaluate_days(connect(), root, model, DAYS)

    assert len(_table(root)) == len(DAYS) * len(METRICS)
    assert [s for s in settled if s.alert.kind == "estimator_quality"] == []


def test_reruns_change_nothing_and_a_recomputed_day_rewrites_its_row(
    root: DataPaths, tmp_path: Path
) -> None:
    """(d) The same run twice leaves the same rows and alerts (ids, first-seen times); a day
    recomputed with new realized values (late labels) has its row rewritten."""
    model = load_models(root.models_file)["m"]
    _write_days(root, _drifting(10, 8.0))
    _materialize(root, model, DAYS[0], DAYS[-1], tmp_path / "home")
    table, alerts = _table(root), _estimator_alerts(root)

    _materialize(root, model, DAYS[0], DAYS[-1], tmp_path / "home")

    pd.testing.assert_frame_equal(_table(root), table)
    pd.testing.assert_frame_equal(_estimator_alerts(root), alerts)

    _write_day(root, DAYS[5], -3.0)  # late labels moved day 5's realized value
    _materialize(root, model, DAYS[5], DAYS[5], tmp_path / "home")

    after = _table(root)
    changed = after[after["date"] == DAYS[5]].set_index("metric")
    for metric, (_, se) in METRICS.items():
        assert changed.loc[metric, "error"] == pytest.approx(-3.0 * se)
        assert not changed.loc[metric, "inside_interval"]
    same = after["date"] != DAYS[5]
    pd.testing.assert_frame_equal(after[same], table[table["date"] != DAYS[5]])
    assert len(after) == len(table)


def test_the_day_whose_delay_ran_out_is_judged_by_the_run_that_closes_it(
    root: DataPaths, tmp_path: Path
) -> None:
    """A day with half its labels turns final when its 20-day delay runs out; the run of the
    day that closes it writes its row and records the day's partition."""
    model = load_models(root.models_file)["m"]
    old = TODAY - dt.timedelta(days=model.label_delay_days + 1)
    closing = old + dt.timedelta(days=model.label_delay_days)
    _write_day(root, old, 0.5, labelled=ROWS // 2)
    _write_day(root, closing, 0.5, labelled=ROWS // 2)

    partitions = _materialize(root, model, closing, closing, tmp_path / "home")

    assert partitions == {old.isoformat(), closing.isoformat()}
    files = day_files(root, "estimation_quality", "m", [old, closing])
    frame = connect().execute(f"SELECT date, metric FROM {read_files_sql(files)}").df()
    assert set(pd.to_datetime(frame["date"]).dt.date) == {old}
    assert sorted(frame["metric"]) == sorted(METRICS)


def test_the_alert_reaches_the_notification_channels(root: DataPaths, tmp_path: Path) -> None:
    """The alerts sensor finds the new kind in the day's partition and the notify job sends it
    (the log channel: `alerts.jsonl`), once."""
    _write_days(root, _drifting(10, 8.0))
    defs = build_definitions(root.root)
    storage = PipelineStorage(data_root=str(root.root))
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        result = dg.materialize(
            [defs.resolve_assets_def(dg.AssetKey(["m", "alerts"]))],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": DAYS[0].isoformat(),
                "dagster/asset_partition_range_end": DAYS[-1].isoformat(),
            },
        )
        assert result.success
        sensor = defs.resolve_sensor_def("alerts_sensor")
        context = dg.build_sensor_context(
            instance=instance, definitions=defs, resources={"storage": storage}
        )
        (request,) = sensor.evaluate_tick(context).run_requests
        job = defs.resolve_job_def("notify_alerts")
        assert job.execute_in_process(run_config=request.run_config, instance=instance).success
    sent = [json.loads(line) for line in root.alerts_log.read_text().splitlines()]
    expected = set(_estimator_alerts(root)["alert_id"])
    assert len(expected) == 2
    assert {r["alert_id"] for r in sent if r["kind"] == "estimator_quality"} == expected


def test_binomial_tail_matches_scipy() -> None:
    from scipy.stats import binom, binomtest

    for days in (2, 7, 14, 30):
        for misses in range(days + 1):
            expected = binomtest(misses, days, 0.05, alternative="greater").pvalue
            assert binomial_tail(misses, days) == pytest.approx(expected, rel=1e-9)
            assert binomial_tail(misses, days) == pytest.approx(binom.sf(misses - 1, days, 0.05))
    assert fewest_tripping_misses(14, 0.01) == 4
    assert fewest_tripping_misses(7, 0.01) == 3
    assert fewest_tripping_misses(2, 0.001) is None  # even 2 misses of 2: p = 0.0025


def test_by_default_a_broken_estimator_is_a_logged_warning_not_an_alert(
    root: DataPaths, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`estimation.alert` is off unless set: the same judgement, in the log and the table."""
    model = _configure(root, "")
    assert model.estimation.alert is False
    _write_days(root, _drifting(10, 8.0))

    with caplog.at_level("WARNING"):
        _materialize(root, model, DAYS[0], DAYS[-1], tmp_path / "home")

    assert _estimator_alerts(root).empty
    assert f"m {DAYS[13]}: the accuracy estimate" in caplog.text
    rows = connect().execute(
        f"SELECT count(*) FROM {read_files_sql(day_files(root, 'estimation_quality', 'm', DAYS))}"
    )
    assert rows.fetchall()[0][0] > 0
