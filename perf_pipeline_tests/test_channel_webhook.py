"""The webhook channel against a real HTTP server on 127.0.0.1, through the real `deliver`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from channel_servers import (
    DAY,
    ROOT_CAUSE,
    HttpRecorder,
    alert_row,
    data_root,
    free_port,
    http_server,
)

from perf_pipeline.alerts.delivery import channel_config_problems, deliver, ledger_path, pending_ids
from perf_pipeline.paths import DataPaths

TOKEN = "Bearer wh-7f3a9c-secret"


def _entry(port: int, extra: str = "") -> str:
    return (
        f"  - {{kind: webhook, url: 'http://127.0.0.1:{port}/hooks/ml', timeout_s: 2,"
        f" headers: {{X-Team: ml}}, headers_env: {{Authorization: WEBHOOK_TOKEN}}{extra}}}\n"
    )


def _ledger(paths: DataPaths) -> list[dict]:
    return [json.loads(line) for line in ledger_path(paths).read_text().splitlines()]


def test_a_daily_alert_is_one_json_post_with_its_text_fields_and_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    alert = alert_row(root_cause=json.dumps(ROOT_CAUSE), run_id="9d1f0c2e-run")
    with http_server(HttpRecorder()) as server:
        paths = data_root(tmp_path, _entry(server.port))
        first = deliver(paths, [alert])
        again = deliver(paths, [alert])

    [request] = server.received
    assert request.path == "/hooks/ml"
    assert request.headers["authorization"] == TOKEN
    assert request.headers["x-team"] == "ml"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["type"] == "alert" and body["count"] == 1
    assert body["alert"]["alert_id"] == alert["alert_id"]
    assert body["alert"]["value"] == 0.612 and body["alert"]["severity"] == "critical"
    report = str(paths.report_file("fraud", DAY))
    assert body["alert"]["report_path"] == report
    assert body["subject"] == "[perf_pipeline] critical fraud roc_auc 2026-09-03"
    text = body["text"]
    assert text.startswith(
        "[critical] fraud 2026-09-03: performance roc_auc = 0.612 (bound 0.75, baseline 0.912)"
    )
    assert "drifted features: amount psi 0.31, merchant_risk psi 0.22" in text
    assert "worst segments: channel=web 0.55 (n=1200)" in text
    assert "data quality: amount_null_rate (observed 0.07)" in text
    assert f"report: {report} (none written for this day)" in text
    assert "Dagster run: 9d1f0c2e-run" in text
    assert first.sent["webhook"] == [alert["alert_id"]]
    assert again.sent == {} and again.failed == {}
    assert TOKEN not in ledger_path(paths).read_text()


def test_a_backfill_sends_one_digest_post_per_model_listing_every_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    days = [DAY.replace(day=d) for d in range(1, 9)]
    fraud = [alert_row("fraud", day, severity="warning") for day in days]
    fraud[2] = alert_row("fraud", days[2], severity="critical")
    demand = [alert_row("demand", DAY, "mae")]
    run = {a["alert_id"]: "backfill-run-1" for a in fraud + demand}
    with http_server(HttpRecorder()) as server:
        paths = data_root(tmp_path, _entry(server.port))
        report = deliver(paths, fraud + demand, digests=run)
        again = deliver(paths, fraud + demand, digests=run)

    bodies = {r.json()["alerts"][0]["model_id"]: r.json() for r in server.received}
    assert len(server.received) == 2 and set(bodies) == {"fraud", "demand"}
    digest = bodies["fraud"]
    assert digest["type"] == "digest" and digest["count"] == 8
    assert sorted(a["alert_id"] for a in digest["alerts"]) == sorted(a["alert_id"] for a in fraud)
    assert digest["subject"] == (
        "[perf_pipeline] digest: 8 alerts (1 critical) for fraud, 2026-09-01 to 2026-09-08"
    )
    lines = digest["text"].splitlines()
    assert lines[1] == "fraud: 8 alerts, 1 critical:"
    # The critical alert first, then day by day, five lines, then the count of the rest.
    assert lines[2].startswith("  - 2026-09-03 critical performance roc_auc = 0.612")
    assert lines[3].startswith("  - 2026-09-01 warning performance roc_auc = 0.612")
    assert lines[7] == "  - and 3 more"
    # A digest of one alert still reads as a digest: it is the backfill's message.
    assert bodies["demand"]["type"] == "digest" and bodies["demand"]["count"] == 1
    assert len(report.digests) == 2
    assert again.sent == {} and again.failed == {}


def test_a_server_error_is_retried_with_backoff_inside_one_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    answers = iter([(503, b"busy"), (502, b"bad gateway"), (200, b"ok")])
    alert = alert_row()
    with http_server(HttpRecorder(lambda _r: next(answers))) as server:
        paths = data_root(tmp_path, _entry(server.port, ", retries: 3, backoff_s: 0.1"))
        started = time.monotonic()
        report = deliver(paths, [alert])
        took = time.monotonic() - started

    assert report.failed == {} and report.sent["webhook"] == [alert["alert_id"]]
    assert len(server.received) == 3
    assert len({r.body for r in server.received}) == 1  # the same JSON each time
    assert took >= 0.1 + 0.2  # waited 0.1 s, then twice that
    assert [(r["channel"], r["status"]) for r in _ledger(paths)] == [
        ("log", "delivered"),
        ("webhook", "delivered"),
    ]


def test_a_client_error_is_not_retried_and_the_alert_stays_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    alert = alert_row()
    with http_server(HttpRecorder(lambda _r: (401, b"no"))) as server:
        paths = data_root(tmp_path, _entry(server.port, ", backoff_s: 0.01"))
        report = deliver(paths, [alert])

    assert len(server.received) == 1
    assert "HTTP 401" in report.failed["webhook"]
    assert f"http://127.0.0.1:{server.port}" in report.failed["webhook"]
    assert "/hooks/ml" not in report.failed["webhook"]  # the path may hold a secret
    assert pending_ids(paths, [alert]) == [alert["alert_id"]]


def test_an_endpoint_that_is_down_then_up_receives_the_pending_alert_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    port = free_port()
    paths = data_root(tmp_path, _entry(port, ", retries: 1, backoff_s: 0.01"))
    alert = alert_row(severity="warning")

    down = deliver(paths, [alert])
    assert "failed after 2 attempt(s)" in down.failed["webhook"]
    assert "Connection refused" in down.failed["webhook"]
    assert pending_ids(paths, [alert]) == [alert["alert_id"]]

    with http_server(HttpRecorder(), port=port) as server:
        up = deliver(paths, [alert])
        third = deliver(paths, [alert])

    assert [r.json()["alert"]["alert_id"] for r in server.received] == [alert["alert_id"]]
    assert up.sent == {"webhook": [alert["alert_id"]]}  # the log had it already
    assert third.sent == {} and third.failed == {}
    assert [(r["channel"], r["status"]) for r in _ledger(paths)] == [
        ("log", "delivered"),
        ("webhook", "failed"),
        ("webhook", "delivered"),
    ]
    assert TOKEN not in ledger_path(paths).read_text()


def test_a_header_variable_that_is_not_set_fails_the_send_not_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Definitions load where no secret is set; the alerts wait until the variable is there."""
    monkeypatch.delenv("WEBHOOK_TOKEN", raising=False)
    alert = alert_row()
    with http_server(HttpRecorder()) as server:
        paths = data_root(tmp_path, _entry(server.port))
        assert channel_config_problems(paths) == []
        report = deliver(paths, [alert])
        assert "environment variable WEBHOOK_TOKEN" in report.failed["webhook"]
        assert "is not set" in report.failed["webhook"]
        assert server.received == []

        monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
        deliver(paths, [alert])
    assert [r.headers["authorization"] for r in server.received] == [TOKEN]


def test_the_url_may_come_from_the_environment_and_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_path = "/services/T000/B000/XXXXsecret"
    with http_server(HttpRecorder(lambda _r: (404, b"gone"))) as server:
        monkeypatch.setenv("HOOK_URL", server.url + secret_path)
        paths = data_root(tmp_path, "  - {kind: webhook, url_env: HOOK_URL}\n")
        report = deliver(paths, [alert_row()])
    assert [r.path for r in server.received] == [secret_path]
    assert "HTTP 404" in report.failed["webhook"]
    assert "secret" not in report.failed["webhook"]
    assert "secret" not in ledger_path(paths).read_text()
