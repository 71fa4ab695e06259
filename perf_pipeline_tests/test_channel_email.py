"""The e-mail channel against a real SMTP server (`aiosmtpd`) on 127.0.0.1, through `deliver`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from channel_servers import DAY, ROOT_CAUSE, alert_row, data_root, free_port, smtp_server

from perf_pipeline.alerts.delivery import deliver, ledger_path, pending_ids

PASSWORD = "smtp-pw-Q9x!secret"
# The test server takes a login over plain text, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _entry(port: int, extra: str = "") -> str:
    return (
        f"  - {{kind: email, host: 127.0.0.1, port: {port}, sender: perf@example.com,"
        f" to: [ml-oncall@example.com, data-team@example.com], timeout_s: 5{extra}}}\n"
    )


def test_one_alert_is_one_email_with_its_subject_text_and_html(tmp_path: Path) -> None:
    port = free_port()
    alert = alert_row(root_cause=json.dumps(ROOT_CAUSE), run_id="9d1f0c2e-run")
    paths = data_root(tmp_path, _entry(port))
    with smtp_server(port) as smtp:
        report = deliver(paths, [alert])
        again = deliver(paths, [alert])

    [(sender, recipients, email)] = smtp.messages
    assert sender == "perf@example.com"
    assert recipients == ["ml-oncall@example.com", "data-team@example.com"]
    assert email["Subject"] == "[perf_pipeline] critical fraud roc_auc 2026-09-03"
    assert email["To"] == "ml-oncall@example.com, data-team@example.com"
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    assert text.splitlines()[0] == (
        "[critical] fraud 2026-09-03: performance roc_auc = 0.612 (bound 0.75, baseline 0.912)"
    )
    assert "worst segments: channel=web 0.55 (n=1200)" in text
    assert f"report: {paths.report_file('fraud', DAY)}" in text
    assert "Dagster run: 9d1f0c2e-run" in text
    assert "<strong>Root cause</strong>" in html and "channel=web 0.55 (n=1200)" in html
    assert report.sent["email"] == [alert["alert_id"]]
    assert again.sent == {} and again.failed == {}


def test_a_backfill_digest_is_one_email_per_model(tmp_path: Path) -> None:
    port = free_port()
    alerts = [alert_row("demand", DAY.replace(day=d), "mae", "warning") for d in (1, 2, 3)]
    paths = data_root(tmp_path, _entry(port))
    with smtp_server(port) as smtp:
        deliver(paths, alerts, digests={a["alert_id"]: "run-7" for a in alerts})

    [(_, _, email)] = smtp.messages
    assert email["Subject"] == (
        "[perf_pipeline] digest: 3 alerts for demand, 2026-09-01 to 2026-09-03"
    )
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "demand: 3 alerts, 0 critical:" in text
    assert text.count("warning performance mae = 0.612") == 3


def test_a_server_that_is_down_then_up_receives_the_pending_alert_once(tmp_path: Path) -> None:
    port = free_port()
    paths = data_root(tmp_path, _entry(port))
    alert = alert_row()

    down = deliver(paths, [alert])
    assert down.failed["email"].startswith(
        f"EmailDeliveryError: SMTP 127.0.0.1:{port} did not take the message: "
        "ConnectionRefusedError"
    )
    assert pending_ids(paths, [alert]) == [alert["alert_id"]]

    with smtp_server(port) as smtp:
        up = deliver(paths, [alert])
        third = deliver(paths, [alert])

    assert len(smtp.messages) == 1
    assert up.sent == {"email": [alert["alert_id"]]}
    assert third.sent == {} and third.failed == {}
    statuses = [json.loads(line)["status"] for line in ledger_path(paths).read_text().splitlines()]
    assert statuses == ["delivered", "failed", "delivered"]  # log, then e-mail twice


def test_the_login_comes_from_the_environment_and_a_refused_one_keeps_the_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    paths = data_root(tmp_path, _entry(port, ", user_env: SMTP_USER, password_env: SMTP_PASSWORD"))
    alert = alert_row()
    monkeypatch.setenv("SMTP_USER", "perf")
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    with smtp_server(port, logins={"perf": "another password"}) as smtp:
        refused = deliver(paths, [alert])
        assert "SMTPAuthenticationError" in refused.failed["email"]
        assert PASSWORD not in refused.failed["email"]
        assert pending_ids(paths, [alert]) == [alert["alert_id"]]
    with smtp_server(port, logins={"perf": PASSWORD}) as smtp:
        deliver(paths, [alert])
        deliver(paths, [alert])
    assert len(smtp.messages) == 1
    assert PASSWORD not in ledger_path(paths).read_text()


def test_a_password_variable_that_is_not_set_fails_the_send_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    paths = data_root(tmp_path, _entry(port, ", user_env: SMTP_USER, password_env: SMTP_PASSWORD"))
    monkeypatch.setenv("SMTP_USER", "perf")
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    with smtp_server(port, logins={"perf": PASSWORD}) as smtp:
        report = deliver(paths, [alert_row()])
    assert "environment variable SMTP_PASSWORD" in report.failed["email"]
    assert smtp.messages == []
