"""The Slack channel against a local server speaking the Web API's `chat.postMessage`, reached
through the client's base URL, and the bot token kept out of every log, ledger and error."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import pytest
from channel_servers import (
    DAY,
    ROOT_CAUSE,
    HttpRecorder,
    alert_row,
    data_root,
    free_port,
    http_server,
    slack_api,
)

from perf_pipeline.alerts.delivery import channel_config_problems, deliver, ledger_path, pending_ids
from perf_pipeline.paths import DataPaths

TOKEN = "xoxb-1234567890-abcdefSECRET"


def _entry(base_url: str) -> str:
    return (
        f"  - {{kind: slack, channel: '#ml-alerts', base_url: '{base_url}/api/', timeout_s: 2}}\n"
    )


def _everything_written(paths: DataPaths) -> str:
    """Every file the notifier writes under the data root, as one text."""
    return "\n".join(
        f.read_text(encoding="utf-8", errors="replace")
        for f in paths.root.rglob("*")
        if f.is_file() and f.suffix in (".jsonl", ".json", ".log", ".txt")
    )


def test_an_alert_is_posted_with_text_and_blocks_to_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    alert = alert_row(root_cause=json.dumps(ROOT_CAUSE))
    with http_server(HttpRecorder(slack_api(TOKEN))) as slack:
        paths = data_root(tmp_path, _entry(slack.url))
        report = deliver(paths, [alert])
        again = deliver(paths, [alert])

    [request] = slack.received
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = request.json()
    assert body["channel"] == "#ml-alerts"
    assert body["text"].startswith("[critical] fraud 2026-09-03: performance roc_auc = 0.612")
    header, *sections = body["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "[critical] fraud 2026-09-03: performance roc_auc = 0.612 "
            "(bound 0.75, baseline 0.912)",
        },
    }
    texts = [s["text"]["text"] for s in sections]
    assert all(s["type"] == "section" and s["text"]["type"] == "mrkdwn" for s in sections)
    assert texts[1].startswith("*Root cause*\n• drifted features: amount psi 0.31")
    report_path = paths.report_file("fraud", DAY)
    assert f"• report: {report_path}" in texts[2]
    assert report.sent["slack"] == [alert["alert_id"]]
    assert again.sent == {} and again.failed == {}


def test_slack_ok_false_is_a_failure_naming_the_slack_error_and_keeps_the_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    alert = alert_row(severity="warning")
    with http_server(HttpRecorder(slack_api(TOKEN, error="channel_not_found"))) as slack:
        paths = data_root(tmp_path, _entry(slack.url))
        refused = deliver(paths, [alert])
    assert refused.failed["slack"] == (
        "SlackDeliveryError: Slack refused chat.postMessage to #ml-alerts: channel_not_found"
    )
    assert pending_ids(paths, [alert]) == [alert["alert_id"]]

    with http_server(HttpRecorder(slack_api(TOKEN)), port=slack.port) as fixed:
        deliver(paths, [alert])
        deliver(paths, [alert])
    assert [r.json()["channel"] for r in fixed.received] == ["#ml-alerts"]
    assert pending_ids(paths, [alert]) == []


def test_a_slack_api_that_is_down_then_up_receives_the_pending_alert_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    port = free_port()
    paths = data_root(tmp_path, _entry(f"http://127.0.0.1:{port}"))
    alert = alert_row()
    down = deliver(paths, [alert])
    assert "Slack chat.postMessage to #ml-alerts failed" in down.failed["slack"]

    with http_server(HttpRecorder(slack_api(TOKEN)), port=port) as slack:
        up = deliver(paths, [alert])
        third = deliver(paths, [alert])
    assert len(slack.received) == 1
    assert up.sent == {"slack": [alert["alert_id"]]}
    assert third.sent == {} and third.failed == {}


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda r: (200, {"ok": False, "error": "invalid_auth"}), id="ok_false"),
        pytest.param(lambda r: (500, {"ok": False, "error": "fatal_error"}), id="http_500"),
        pytest.param(lambda r: (200, b"<html>not json</html>"), id="not_json"),
    ],
)
def test_the_token_never_appears_in_logs_ledger_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answer
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)  # slack_sdk logs each request at DEBUG
    alert = alert_row()
    with http_server(HttpRecorder(answer)) as slack:
        paths = data_root(tmp_path, _entry(slack.url))
        report = deliver(paths, [alert])
    assert slack.received and "slack" in report.failed
    assert TOKEN not in report.failed["slack"]
    assert TOKEN not in caplog.text
    assert TOKEN not in _everything_written(paths)
    assert "slack" in ledger_path(paths).read_text()


def test_the_notify_run_that_fails_on_slack_shows_no_token_in_its_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perf_pipeline.alerts.notify import notify_alerts
    from perf_pipeline.alerts.records import Alert, write_alerts
    from perf_pipeline.lake import connect
    from perf_pipeline.resources import PipelineStorage

    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    raised = Alert(
        model_id="fraud",
        date=DAY,
        kind="performance",
        metric_or_column="roc_auc",
        value=0.6,
        baseline=0.9,
        threshold=0.75,
        severity="critical",
        message="roc_auc fell",
    )
    with http_server(HttpRecorder(slack_api("xoxb-another-token"))) as slack:
        paths = data_root(tmp_path, _entry(slack.url))
        write_alerts(connect(), paths, "fraud", [DAY], [raised], "regressions")
        with dg.instance_for_test() as instance:
            result = notify_alerts.execute_in_process(
                run_config={"ops": {"send_alerts": {"config": {"alert_ids": [raised.alert_id]}}}},
                resources={"storage": PipelineStorage(data_root=str(tmp_path))},
                instance=instance,
                raise_on_error=False,
            )
            logs = instance.all_logs(result.run_id)
    assert not result.success and len(slack.received) == 1
    event_text = "\n".join(str(entry) for entry in logs)
    assert "invalid_auth" in event_text  # the failure is there, naming Slack's reason ...
    assert TOKEN not in event_text  # ... and the token is not


def test_a_token_variable_that_is_not_set_fails_the_send_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with http_server(HttpRecorder(slack_api(TOKEN))) as slack:
        paths = data_root(tmp_path, _entry(slack.url))
        assert channel_config_problems(paths) == []  # not a load error
        report = deliver(paths, [alert_row()])
    assert "environment variable SLACK_BOT_TOKEN" in report.failed["slack"]
    assert slack.received == []
