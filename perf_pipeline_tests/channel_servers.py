"""Real servers on 127.0.0.1 for the notification channels' tests, and alert rows to send.

`HttpRecorder` records every request and answers from a script (a webhook endpoint, or the
Slack Web API's `chat.postMessage`); `SmtpRecorder` is an `aiosmtpd` server that keeps every
message it accepts. Both can be started on a port that was refused a moment before, which is how
the tests take a channel down and bring it back.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from perf_pipeline.alerts.records import alert_id
from perf_pipeline.paths import DataPaths

DAY = dt.date(2026, 9, 3)
MODELS = """\
models:
  fraud:
    task: binary_classification
    features: {numerical: [amount]}
    start_date: 2026-09-01
  demand:
    task: regression
    features: {numerical: [price]}
    start_date: 2026-09-01
"""
# `alerts.root_cause` as the alerts stage writes it (perf_pipeline.alerts.root_cause).
ROOT_CAUSE = {
    "drifted_features": [
        {
            "column": "amount",
            "method": "wasserstein",
            "statistic": 0.41,
            "p_value": None,
            "psi": 0.31,
        },
        {
            "column": "merchant_risk",
            "method": "ks",
            "statistic": 0.2,
            "p_value": 0.001,
            "psi": 0.22,
        },
    ],
    "worst_segments": [
        {"segment_column": "channel", "segment_value": "web", "value": 0.55, "n": 1200}
    ],
    "data_quality": [
        {
            "expectation": "amount_null_rate",
            "column": "amount",
            "observed_value": "0.07",
            "severity": "warning",
        }
    ],
}


def alert_row(
    model_id: str = "fraud",
    day: dt.date = DAY,
    metric: str = "roc_auc",
    severity: str = "critical",
    kind: str = "performance",
    **extra: Any,
) -> dict[str, Any]:
    """A row of the `alerts` table as the notifier hands it to channels (JSON-able values)."""
    return {
        "alert_id": alert_id(model_id, day, kind, metric),
        "model_id": model_id,
        "date": day.isoformat(),
        "kind": kind,
        "metric_or_column": metric,
        "value": 0.612,
        "baseline": 0.912,
        "threshold": 0.75,
        "severity": severity,
        "status": "open",
        "first_seen_at": "2026-09-04T02:10:00+00:00",
        "message": f"{model_id} {day}: {metric} = 0.612 on 3000 labelled rows; below 0.75",
        **extra,
    }


def data_root(tmp_path: Path, notifications: str) -> DataPaths:
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(MODELS + "notifications:\n" + notifications, encoding="utf-8")
    return paths


def free_port() -> int:
    """A port nothing listens on (yet): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# Given the request, the status and the JSON (or bytes) to answer with.
Responder = Callable[[Request], tuple[int, Any]]


@dataclass
class HttpRecorder:
    respond: Responder = field(default=lambda _request: (200, {"ok": True}))
    received: list[Request] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(recorder: HttpRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            recorder.received.append(request)
            status, answer = recorder.respond(request)
            raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def http_server(recorder: HttpRecorder, port: int = 0) -> Iterator[HttpRecorder]:
    """Serve `recorder` on 127.0.0.1 (on `port`, or any free one) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(recorder))
    recorder.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def slack_api(token: str, error: str | None = None) -> Responder:
    """`chat.postMessage` as the Slack Web API answers it: `ok` with the message's channel and
    timestamp, `invalid_auth` for another token, or `ok: false` with `error` when given."""

    def respond(request: Request) -> tuple[int, Any]:
        if request.path != "/api/chat.postMessage":
            return 200, {"ok": False, "error": "unknown_method"}
        if request.headers.get("authorization") != f"Bearer {token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if error is not None:
            return 200, {"ok": False, "error": error}
        body = request.json()
        return 200, {"ok": True, "channel": "C0ALERTS", "ts": "1788400000.000100", "message": body}

    return respond


@dataclass
class SmtpRecorder:
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(port: int, logins: dict[str, str] | None = None) -> Iterator[SmtpRecorder]:
    """An `aiosmtpd` server on 127.0.0.1:`port`; with `logins`, it requires AUTH (over plain
    text, as a test server may)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and (logins or {}).get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535

    recorder = SmtpRecorder()
    extra: dict[str, Any] = {}
    if logins is not None:
        extra = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
