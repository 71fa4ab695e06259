"""The words every channel sends: one alert, a digest, the root cause in whatever shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from channel_servers import DAY, ROOT_CAUSE, alert_row
from hypothesis import given, settings
from hypothesis import strategies as st

from perf_pipeline.alerts.messages import compose, root_cause_lines
from perf_pipeline.paths import DataPaths


def test_one_alert_reads_what_broke_why_and_where_to_look(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    report = paths.report_file("fraud", DAY)
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    alert = alert_row(
        root_cause=json.dumps(ROOT_CAUSE),
        message="fraud 2026-09-03: roc_auc = 0.612 on 3000 labelled rows; below 0.75"
        " | root cause: drifted: amount (psi 0.31)",
        incident_first_date="2026-09-01",
        incident_breach_days=3,
    )
    message = compose([alert], paths)
    assert message.subject == "[perf_pipeline] critical fraud roc_auc 2026-09-03"
    assert message.text().splitlines() == [
        "[critical] fraud 2026-09-03: performance roc_auc = 0.612 (bound 0.75, baseline 0.912)",
        "fraud 2026-09-03: roc_auc = 0.612 on 3000 labelled rows; below 0.75",
        "day 3 of an incident since 2026-09-01",
        "Root cause:",
        "  - drifted features: amount psi 0.31, merchant_risk psi 0.22",
        "  - worst segments: channel=web 0.55 (n=1200)",
        "  - data quality: amount_null_rate (observed 0.07)",
        "Where to look:",
        f"  - report: {report}",
        f"  - alert id: {alert['alert_id']}",
    ]


def test_an_alert_without_root_cause_bound_or_run_still_reads(tmp_path: Path) -> None:
    alert = alert_row(kind="drift", metric="__dataset__", severity="warning")
    alert.update(value=0.6, threshold=0.5, baseline=None, message="60% of columns drifted")
    text = compose([alert], DataPaths(tmp_path)).text()
    assert text.splitlines()[0] == (
        "[warning] fraud 2026-09-03: drift share of drifted columns = 0.6 (bound 0.5)"
    )
    assert "Root cause" not in text and "Dagster run" not in text
    assert "(none written for this day)" in text


def test_a_digest_groups_by_model_worst_first_and_caps_each_model(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    days = [DAY + dt.timedelta(days=d) for d in range(12)]
    fraud = [alert_row("fraud", d, severity="warning") for d in days]
    fraud[7] = alert_row("fraud", days[7], severity="critical")
    demand = [alert_row("demand", DAY, "mae", "warning", run_id="run-42")]
    message = compose(fraud + demand, paths)
    lines = message.text().splitlines()
    assert message.is_digest
    assert message.subject == (
        "[perf_pipeline] digest: 13 alerts (1 critical) for demand, fraud, 2026-09-03 to 2026-09-14"
    )
    assert lines[0] == "13 alerts (1 critical), 2026-09-03 to 2026-09-14: demand 1, fraud 12"
    fraud_at = lines.index("fraud: 12 alerts, 1 critical:")
    assert lines[fraud_at + 1].startswith("  - 2026-09-10 critical performance roc_auc")
    assert lines[fraud_at + 2].startswith("  - 2026-09-03 warning")
    assert lines[fraud_at + 6] == "  - and 7 more"
    assert f"  - fraud reports: {paths.reports / 'fraud'}/<day>.html" in lines
    assert "  - Dagster run: run-42" in lines


def test_root_cause_in_any_shape_or_none_gives_readable_lines() -> None:
    assert root_cause_lines(None) == [] and root_cause_lines("") == []
    assert root_cause_lines("{}") == [] and root_cause_lines("null") == []
    assert root_cause_lines({"drifted_features": [], "worst_segments": None}) == []
    assert root_cause_lines("not json at all") == ["not json at all"]
    many = {"drifted_features": [{"column": f"f{i}", "psi": i / 10} for i in range(5)]}
    assert root_cause_lines(many) == [
        "drifted features: f0 psi 0, f1 psi 0.1, f2 psi 0.2 and 2 more"
    ]
    assert root_cause_lines({"notes": ["label delay", 3]}) == ["notes: label delay, 3"]
    assert root_cause_lines([{"odd": True}]) == ['{"odd": true}']


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(
    root_cause=JSON,
    severities=st.lists(
        st.sampled_from(["warning", "critical", "error", None]), min_size=1, max_size=9
    ),
    value=st.none() | st.floats(allow_nan=True, allow_infinity=False),
)
def test_any_alerts_compose_into_a_message_naming_each_model(
    tmp_path_factory, root_cause: object, severities: list[str | None], value: float | None
) -> None:
    paths = DataPaths(tmp_path_factory.getbasetemp())
    alerts = [
        alert_row(
            "fraud" if i % 2 else "demand",
            DAY + dt.timedelta(days=i),
            severity=severity,
            root_cause=root_cause if isinstance(root_cause, str) else json.dumps(root_cause),
        )
        | {"value": value}
        for i, severity in enumerate(severities)
    ]
    message = compose(alerts, paths)
    text = message.text()
    assert {a["model_id"] for a in alerts} <= {m for m in ("fraud", "demand") if m in text}
    assert message.is_digest == (len(alerts) > 1)
    assert "\n" not in message.subject
