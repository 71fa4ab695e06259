"""The dashboard's pure parts: bounds with the alerts' verdict, the sparkline, the per-metric
summary behind `perf-pipeline status` and the index, the status screen's own lines."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perf_pipeline.alerts.regressions import _breaches
from perf_pipeline.config import MetricThreshold, ModelConfig
from perf_pipeline.dashboard.bounds import metric_bound
from perf_pipeline.dashboard.summary import (
    ALERT,
    OK,
    ModelSummary,
    sparkline,
    summarize_metrics,
    summary_from_frames,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.status import OPEN_ALERTS_SHOWN, model_status_lines

DAY = dt.date(2026, 9, 1)


def _model(**thresholds) -> ModelConfig:
    return ModelConfig(
        model_id="m",
        task="binary_classification",
        start_date=DAY,
        thresholds=thresholds or {"roc_auc": {"min": 0.8, "max_drop": 0.05}},
    )


finite = st.floats(min_value=-2, max_value=2, allow_nan=False)
optional = st.none() | finite


@given(
    value=finite,
    low=optional,
    high=optional,
    max_drop=st.none() | st.floats(min_value=0, max_value=1),
    reference=optional,
    metric=st.sampled_from(["roc_auc", "brier", "log_loss", "recall"]),
)
def test_bound_breaks_exactly_when_the_alerts_rule_fires(
    value, low, high, max_drop, reference, metric
) -> None:
    """The band the dashboard draws and the OK/ALERT it prints say what the alerts' fixed
    bounds say (statistical bands, `require_ci` and persistence are the alerts' own filters;
    the chart marks the alerts they let through)."""
    if low is not None and high is not None and low > high:
        low, high = high, low
    threshold = MetricThreshold(min=low, max=high, max_drop=max_drop)
    model = _model(**{metric: threshold.model_dump()})
    problems = _breaches(model, metric, value, threshold, reference, None)
    assert metric_bound(model, metric, threshold, reference).breaks(value) == bool(problems)


def test_bound_folds_max_drop_into_the_bad_direction() -> None:
    model = _model(roc_auc={"min": 0.8, "max_drop": 0.05}, brier={"max_drop": 0.02})
    assert metric_bound(model, "roc_auc", model.thresholds["roc_auc"], 0.9).low == 0.85
    assert metric_bound(model, "roc_auc", model.thresholds["roc_auc"], 0.82).low == 0.8
    brier = metric_bound(model, "brier", model.thresholds["brier"], 0.05)
    assert (brier.low, brier.high) == (None, pytest.approx(0.07))
    assert metric_bound(model, "roc_auc", None, 0.9).describe() == "-"


def test_sparkline_scales_between_the_window_min_and_max_and_leaves_gaps() -> None:
    line = sparkline([0.0, 0.5, 1.0, None, float("nan"), 1.0])
    assert line == "▁▅█  █"
    assert sparkline([0.3, 0.3]) == "▅▅"
    assert sparkline([None, None]) == "  "
    ranks = sparkline([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert list(ranks) == sorted(ranks)


def _series(rows: list[tuple]) -> pd.DataFrame:
    """(day offset, status, value, reference) rows of roc_auc."""
    return pd.DataFrame(
        [
            {
                "date": pd.Timestamp(DAY + dt.timedelta(days=d)),
                "metric": "roc_auc",
                "status": status,
                "is_estimated": status == "estimated",
                "value": value,
                "ci_low": value - 0.01,
                "ci_high": value + 0.01,
                "n": 1000,
                "label_coverage": 1.0,
                "reference": reference,
            }
            for d, status, value, reference in rows
        ]
    )


def test_a_final_value_outside_its_bound_is_an_alert() -> None:
    [summary] = summarize_metrics(
        _model(), ["roc_auc"], _series([(0, "final", 0.9, 0.9), (1, "final", 0.84, 0.9)])
    )
    assert summary.state == ALERT
    assert (summary.final.day, summary.final.value) == (DAY + dt.timedelta(days=1), 0.84)
    assert summary.bound.low == pytest.approx(0.85)


def test_a_later_estimate_is_judged_and_provisional_values_are_shown_only() -> None:
    rows = [(0, "final", 0.9, 0.9), (1, "provisional", 0.5, 0.9), (2, "estimated", 0.88, 0.9)]
    [summary] = summarize_metrics(_model(), ["roc_auc"], _series(rows))
    assert summary.state == OK
    assert summary.provisional.value == 0.5
    late_estimate = [*rows, (3, "estimated", 0.7, 0.9)]
    [summary] = summarize_metrics(_model(), ["roc_auc"], _series(late_estimate))
    assert summary.state == ALERT
    # an estimate older than the latest final value is not judged again
    old_estimate = [(0, "estimated", 0.5, 0.9), (1, "final", 0.9, 0.9)]
    [summary] = summarize_metrics(_model(), ["roc_auc"], _series(old_estimate))
    assert summary.state == OK


def test_the_trend_prefers_realized_values_and_ends_on_the_latest_day() -> None:
    rows = [(d, "final", 0.80 + d / 100, 0.9) for d in range(20)]
    rows += [(19, "estimated", 0.1, 0.9), (20, "estimated", 0.85, 0.9)]
    [summary] = summarize_metrics(_model(), ["roc_auc"], _series(rows), days=5)
    assert summary.trend == pytest.approx([0.96, 0.97, 0.98, 0.99, 0.85])


def _alerts(count: int, day: dt.date) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [pd.Timestamp(day)] * count,
            "kind": ["performance"] * count,
            "metric_or_column": ["roc_auc"] * count,
            "value": [0.7] * count,
            "threshold": [0.8] * count,
            "severity": ["error"] * count,
            "status": ["open"] * count,
            "message": [f"m {day}: roc_auc = 0.7 ({i})" for i in range(count)],
        }
    )


def _volume(day: dt.date) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [pd.Timestamp(day)],
            "rows_read": [3012.0],  # a float, as pandas holds a column with NULLs
            "accepted": [3000.0],
            "quarantined": [12.0],
            "quarantine_share": [12 / 3012],
            "error": [None],
        }
    )


def test_status_screen_counts_are_integers_and_a_cut_alert_list_says_how_many_more(
    tmp_path,
) -> None:
    series = _series([(0, "final", 0.9, 0.9), (1, "estimated", 0.7, 0.9)])
    last = DAY + dt.timedelta(days=1)
    extra = 3
    summary = summary_from_frames(
        _model(), ["roc_auc"], series, _volume(last), _alerts(OPEN_ALERTS_SHOWN + extra, last)
    )
    assert summary.state == ALERT and summary.latest_day == last
    lines = model_status_lines(summary, DataPaths(tmp_path))
    text = "\n".join(lines)
    assert lines[0].split() == ["m", "ALERT", "latest", "day", last.isoformat()]
    assert "3,012 rows read, 3,000 accepted, 12 quarantined (0.4%)" in text
    assert ".0 " not in text
    assert f"open alerts: {OPEN_ALERTS_SHOWN + extra}" in text
    assert f"... {extra} more" in lines[-1]
    roc = next(line for line in lines if line.strip().startswith("roc_auc"))
    assert "0.9000 2026-09-01" in roc and "0.7000 2026-09-02" in roc and "ALERT" in roc
    assert roc.rstrip().endswith("▁") and ">= 0.85" in roc


def test_a_model_without_any_data_is_no_data() -> None:
    empty = summary_from_frames(
        _model(),
        ["roc_auc"],
        _series([]).reindex(columns=["date", "metric", "status", "value", "n", "reference"]),
        _volume(DAY).iloc[0:0],
        _alerts(0, DAY),
    )
    assert isinstance(empty, ModelSummary) and empty.state == "NO DATA"
    assert empty.latest_day is None and len(empty.open_alerts) == 0


def test_page_data_with_undefined_values_is_strict_json() -> None:
    """A day whose metric is undefined (NaN, infinite) or whose drift flag is missing (pd.NA)
    still builds: the value is a gap (null) in the page's JSON, and the flag reads `no`."""
    import json

    import pandas as pd

    from perf_pipeline.dashboard.figures import _yes_no
    from perf_pipeline.dashboard.html_parts import json_script

    script = json_script("f", {"y": [1.0, float("nan"), float("inf")], "z": (2.5, -float("inf"))})
    text = script.split(">", 1)[1].rsplit("</script>", 1)[0]
    assert json.loads(text) == {"y": [1.0, None, None], "z": [2.5, None]}
    assert [_yes_no(v) for v in (pd.NA, None, float("nan"), False, True)] == [
        "no",
        "no",
        "no",
        "no",
        "yes",
    ]
