"""`{kind: slack, channel: "#ml-alerts", token_env: SLACK_BOT_TOKEN, base_url, timeout_s}`.

Posts with `chat.postMessage` through `dagster-slack`'s `SlackResource` (a `slack_sdk`
`WebClient`): the message's text (what notifications and old clients show) and its blocks. The
bot token is read from the environment at send time; it is never logged, and every error this
channel raises has it masked. Slack answers `ok: false` with a reason (`channel_not_found`,
`not_in_channel`, `invalid_auth`, ...): that is a failure naming the reason, and the alerts stay
pending. `base_url` points the client at another Slack Web API endpoint (an enterprise proxy,
or a local server in tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from perf_pipeline.alerts import channel_options as opt
from perf_pipeline.alerts.channels import Channel, register_channel
from perf_pipeline.alerts.messages import Message, compose
from perf_pipeline.paths import DataPaths

OPTIONS = ("channel", "token_env", "base_url", "timeout_s")
DEFAULT_TOKEN_ENV = "SLACK_BOT_TOKEN"
# Slack's own limits: header text 150 characters, section text 3,000, 50 blocks a message.
_HEADER_LIMIT, _SECTION_LIMIT, _BLOCK_LIMIT = 150, 3000, 50


class SlackDeliveryError(RuntimeError):
    """Slack refused the message (`ok: false`) or could not be reached."""


@register_channel
class SlackChannel(Channel):
    kind = "slack"

    def __init__(self, paths: DataPaths, name: str, options: Mapping[str, Any]) -> None:
        super().__init__(paths, name, options)
        opt.reject_unknown(options, OPTIONS)
        self.channel = str(opt.text(options, "channel"))
        self.token_env = opt.env_name(options, "token_env") or DEFAULT_TOKEN_ENV
        base_url = opt.http_url(options, "base_url", required=False)
        self.base_url = base_url if base_url is None or base_url.endswith("/") else base_url + "/"
        self.timeout_s = opt.seconds(options, "timeout_s", 10.0)

    def send(self, alerts: list[dict[str, Any]], digest: bool = False) -> None:
        """Send one message: the alert, or the digest (`digest`, or several alerts)."""
        token = opt.read_secret(self.token_env, f"{self.name}.token_env")
        message = compose(alerts, self.paths, digest)
        try:
            self._post(token, message)
        except SlackDeliveryError:
            raise
        except Exception as exc:  # the client's own errors: masked, never chained
            problem = opt.redact(f"{type(exc).__name__}: {exc}", [token])
            raise SlackDeliveryError(
                f"Slack chat.postMessage to {self.channel} failed: {problem}"
            ) from None

    def _post(self, token: str, message: Message) -> None:
        from dagster_slack import SlackResource
        from slack_sdk.errors import SlackApiError

        client = SlackResource(token=token).get_client()
        client.timeout = int(max(1, round(self.timeout_s)))
        if self.base_url:
            client.base_url = self.base_url
        try:
            client.chat_postMessage(
                channel=self.channel, text=message.text(), blocks=slack_blocks(message)
            )
        except SlackApiError as exc:
            reason = exc.response.get("error") if exc.response is not None else None
            raise SlackDeliveryError(
                f"Slack refused chat.postMessage to {self.channel}: {reason or 'no reason given'}"
            ) from None


def slack_blocks(message: Message) -> list[dict[str, Any]]:
    """A header with the title, then one section per part of the message."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(message.title, _HEADER_LIMIT)},
        }
    ]
    for section in message.sections:
        lines = [_escape(line) for line in section.lines]
        if section.heading is not None:
            lines = [f"*{_escape(section.heading)}*", *(f"• {line}" for line in lines)]
        if lines:
            text = _cut("\n".join(lines), _SECTION_LIMIT)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return blocks[:_BLOCK_LIMIT]


def _escape(text: str) -> str:
    """Slack's mrkdwn reads `&`, `<` and `>` as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
