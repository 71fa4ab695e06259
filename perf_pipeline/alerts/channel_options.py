"""Reading a channel's options from its `notifications:` entry, and its secrets from the
environment.

Every check raises `ChannelConfigError` with the offending key, so the message reads
`notifications[2].port: expected a whole number from 1 to 65535, not 'smtp'`. Secrets (tokens,
passwords, header values) are never written in the models file: the entry names an environment
variable, read when the channel sends. A variable that is not set is a send-time failure (the
alerts stay pending and are retried), not a load error: the definitions, `validate` and the UI
load on machines that hold no secrets, and setting the variable later is enough.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from perf_pipeline.alerts.channels import ChannelConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REDACTED = "***"


class MissingSecretError(RuntimeError):
    """An environment variable a channel reads its secret from is not set (names it, never a
    value)."""


def reject_unknown(options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """A misspelt key would otherwise be ignored and the channel silently misconfigured."""
    valid = sorted(allowed)
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ChannelConfigError(f"unknown option; {hint}valid: {', '.join(valid)}", key=key)


def text(options: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = options.get(key)
    if value is None:
        if required:
            raise ChannelConfigError("missing; this channel needs it", key=key)
        return None
    if not isinstance(value, str) or not value.strip():
        raise ChannelConfigError(f"expected non-empty text, not {value!r}", key=key)
    return value.strip()


def http_url(options: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = text(options, key, required=required)
    if value is not None and not value.startswith(("http://", "https://")):
        raise ChannelConfigError(f"expected an http:// or https:// URL, not {value!r}", key=key)
    return value


def whole_number(options: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ChannelConfigError(
            f"expected a whole number from {low} to {high}, not {value!r}", key=key
        )
    return value


def seconds(options: Mapping[str, Any], key: str, default: float, high: float = 300.0) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ChannelConfigError(
            f"expected seconds above 0 and at most {high:g}, not {value!r}", key=key
        )
    return float(value)


def flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise ChannelConfigError(f"expected true or false, not {value!r}", key=key)
    return value


def text_list(options: Mapping[str, Any], key: str) -> list[str]:
    value = options.get(key)
    if value is None:
        raise ChannelConfigError("missing; this channel needs it", key=key)
    if isinstance(value, str):
        value = [value]
    if not (
        isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise ChannelConfigError(f"expected a non-empty list of text, not {value!r}", key=key)
    return [v.strip() for v in value]


def text_map(options: Mapping[str, Any], key: str) -> dict[str, str]:
    value = options.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ChannelConfigError(f"expected a mapping of text to text, not {value!r}", key=key)
    return dict(value)


def env_name(options: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    """The name of an environment variable (checked now; its value is read at send time)."""
    value = text(options, key, required=required)
    if value is not None and not _ENV_NAME.match(value):
        raise ChannelConfigError(
            f"expected the name of an environment variable, not {value!r}", key=key
        )
    return value


def env_names(options: Mapping[str, Any], key: str) -> dict[str, str]:
    """A mapping whose values name environment variables (e.g. header -> variable)."""
    names = text_map(options, key)
    for name in names.values():
        if not _ENV_NAME.match(name):
            raise ChannelConfigError(
                f"expected names of environment variables, not {name!r}", key=key
            )
    return names


def read_secret(variable: str, purpose: str) -> str:
    """The value of `variable`; a missing or empty one fails the send, naming the variable."""
    value = os.environ.get(variable)
    if not value:
        raise MissingSecretError(f"environment variable {variable} ({purpose}) is not set")
    return value


def redact(message: str, secrets: Iterable[str]) -> str:
    """`message` with every secret value replaced, for errors that end up in logs and ledgers."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    return message
