"""`{kind: webhook, url, headers, headers_env, timeout_s, retries, backoff_s}`: a JSON POST.

The body is one alert (`{"type": "alert", ...}`) or a digest (`{"type": "digest", ...}`), with
the rendered `text` beside the structured `alerts`, so a chat tool that reads `text` and a
service that reads the fields are both served. A refused or unreachable endpoint is retried a
few times with exponential backoff inside one send, kept short since the sensor retries the
pending alerts on a later tick anyway. A client error (4xx other than 408 and 429) is not
retried: the same request would be refused again.

Header values may come from the environment (`headers_env: {Authorization: WEBHOOK_TOKEN}`),
read at send time and never written to an error; errors name the endpoint by scheme, host and
port only, since webhook URLs often carry a secret in their path.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from perf_pipeline.alerts import channel_options as opt
from perf_pipeline.alerts.channels import Channel, jsonable, register_channel
from perf_pipeline.alerts.messages import compose
from perf_pipeline.paths import DataPaths

OPTIONS = ("url", "url_env", "headers", "headers_env", "timeout_s", "retries", "backoff_s")
RETRIED_STATUSES = frozenset({408, 429})


class WebhookError(RuntimeError):
    """The endpoint refused the POST or could not be reached (after the retries)."""


@register_channel
class WebhookChannel(Channel):
    kind = "webhook"

    def __init__(self, paths: DataPaths, name: str, options: Mapping[str, Any]) -> None:
        super().__init__(paths, name, options)
        opt.reject_unknown(options, OPTIONS)
        self.url = opt.http_url(options, "url", required="url_env" not in options)
        self.url_env = opt.env_name(options, "url_env")
        if self.url and self.url_env:
            raise opt.ChannelConfigError("give 'url' or 'url_env', not both", key="url_env")
        self.headers = opt.text_map(options, "headers")
        self.headers_env = opt.env_names(options, "headers_env")
        self.timeout_s = opt.seconds(options, "timeout_s", 5.0)
        self.retries = opt.whole_number(options, "retries", 3, low=0, high=10)
        self.backoff_s = opt.seconds(options, "backoff_s", 0.5, high=60.0)

    def send(self, alerts: list[dict[str, Any]], digest: bool = False) -> None:
        """Send one message: the alert, or the digest (`digest`, or several alerts)."""
        url = self.url or opt.read_secret(str(self.url_env), f"{self.name}.url_env")
        headers = {"Content-Type": "application/json", "User-Agent": "perf_pipeline"}
        headers |= self.headers
        headers |= {
            header: opt.read_secret(variable, f"{self.name}.headers_env.{header}")
            for header, variable in self.headers_env.items()
        }
        body = json.dumps(payload(alerts, self.paths, digest), allow_nan=False).encode("utf-8")
        secrets = [url, *headers.values()] if self.url_env else list(headers.values())
        try:
            post_with_retries(url, body, headers, self.timeout_s, self.retries, self.backoff_s)
        except WebhookError as exc:
            raise WebhookError(opt.redact(str(exc), secrets)) from None


def payload(alerts: list[dict[str, Any]], paths: DataPaths, digest: bool = False) -> dict[str, Any]:
    """What the endpoint receives: the message's text and subject, and every alert's fields with
    the path of its day's report."""
    message = compose(alerts, paths, digest)
    rows = [
        {
            **{k: jsonable(v) for k, v in alert.items()},
            "report_path": str(paths.report_file(alert["model_id"], _day(alert))),
        }
        for alert in alerts
    ]
    body: dict[str, Any] = {
        "type": "digest" if message.is_digest else "alert",
        "subject": message.subject,
        "text": message.text(),
        "count": len(rows),
    }
    return body | ({"alerts": rows} if message.is_digest else {"alert": rows[0]})


def _day(alert: Mapping[str, Any]) -> dt.date:
    return dt.date.fromisoformat(str(alert["date"])[:10])


def endpoint(url: str) -> str:
    """`scheme://host:port` of a URL: enough to say where, never its path or query."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def post_with_retries(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float, retries: int, backoff_s: float
) -> None:
    """POST `body`; retry a 5xx, 408, 429 or an unreachable endpoint `retries` times, waiting
    `backoff_s`, then twice that, and so on. Raises `WebhookError` naming the last problem."""
    where = endpoint(url)
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code not in RETRIED_STATUSES:
                raise WebhookError(f"webhook {where} refused the POST: {problem}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            problem = f"{type(reason).__name__}: {reason}"
    raise WebhookError(f"webhook {where} failed after {retries + 1} attempt(s); last: {problem}")
