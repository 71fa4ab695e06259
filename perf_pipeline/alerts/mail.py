"""`{kind: email, host, port, sender, to, starttls, user_env, password_env, timeout_s}`.

Sent with the standard library's SMTP client: subject
`[perf_pipeline] <severity> <model> <metric> <day>` (or the digest's), a plain-text body and an
HTML alternative of the same words. The login, when the server needs one, comes from the
environment at send time; errors never carry the password. A message the server takes for
some recipients and refuses for others is delivered (it went out; sending it again would repeat
it to those who have it), and the refused addresses are logged as a warning.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from perf_pipeline.alerts import channel_options as opt
from perf_pipeline.alerts.channels import Channel, ChannelConfigError, register_channel
from perf_pipeline.alerts.messages import Message, compose
from perf_pipeline.paths import DataPaths

OPTIONS = ("host", "port", "sender", "to", "starttls", "user_env", "password_env", "timeout_s")
log = logging.getLogger(__name__)


class EmailDeliveryError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


@register_channel
class EmailChannel(Channel):
    kind = "email"

    def __init__(self, paths: DataPaths, name: str, options: Mapping[str, Any]) -> None:
        super().__init__(paths, name, options)
        opt.reject_unknown(options, OPTIONS)
        self.host = str(opt.text(options, "host"))
        self.port = opt.whole_number(options, "port", 25, low=1, high=65535)
        self.sender = _address(str(opt.text(options, "sender")), "sender")
        self.to = [_address(a, "to") for a in opt.text_list(options, "to")]
        self.starttls = opt.flag(options, "starttls", False)
        self.user_env = opt.env_name(options, "user_env")
        self.password_env = opt.env_name(options, "password_env")
        if (self.user_env is None) != (self.password_env is None):
            missing = "password_env" if self.password_env is None else "user_env"
            raise ChannelConfigError("give both user_env and password_env, or neither", key=missing)
        self.timeout_s = opt.seconds(options, "timeout_s", 10.0)

    def send(self, alerts: list[dict[str, Any]], digest: bool = False) -> None:
        """Send one message: the alert, or the digest (`digest`, or several alerts)."""
        login = None
        if self.user_env and self.password_env:
            login = (
                opt.read_secret(self.user_env, f"{self.name}.user_env"),
                opt.read_secret(self.password_env, f"{self.name}.password_env"),
            )
        email = self.email(compose(alerts, self.paths, digest))
        try:
            refused = self._submit(email, login)
        except (smtplib.SMTPException, OSError) as exc:
            problem = opt.redact(f"{type(exc).__name__}: {exc}", list(login or ()))
            raise EmailDeliveryError(
                f"SMTP {self.host}:{self.port} did not take the message: {problem}"
            ) from None
        if refused:
            log.warning("%s: SMTP %s refused recipients %s", self.name, self.host, sorted(refused))

    def email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = message.subject
        email["From"] = self.sender
        email["To"] = ", ".join(self.to)
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email.set_content(message.text())
        email.add_alternative(message.html(), subtype="html")
        return email

    def _submit(self, email: EmailMessage, login: tuple[str, str] | None) -> dict[str, Any]:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if login is not None:
                smtp.login(*login)
            return smtp.send_message(email, from_addr=self.sender, to_addrs=self.to)


def _address(value: str, key: str) -> str:
    """A bare address (`ml-alerts@example.com`); header injection and typos stop here."""
    if "@" not in value or any(c in value for c in "\r\n,;<> "):
        raise ChannelConfigError(f"expected an e-mail address, not {value!r}", key=key)
    return value
