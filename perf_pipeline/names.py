"""Dagster-safe names for things users name: model ids, feature columns, expectations.

Dagster accepts only `[A-Za-z0-9_]` in job, group, sensor and check names, while real column names
carry dashes, spaces, dots and non-ASCII letters. Every name built from user input goes through
`dagster_name`, which keeps readable names as they are and maps any other one to a readable,
collision-free form: the unsafe characters become `_` and a short hash of the original text is
appended, so `x-1` and `x_1` never end up as the same check.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_HASH_LENGTH = 8


def is_dagster_safe(text: str) -> bool:
    return bool(text) and not _UNSAFE.search(text)


def dagster_name(text: str) -> str:
    """`text` itself when Dagster accepts it, otherwise a sanitized form plus a stable hash."""
    if is_dagster_safe(text):
        return text
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    readable = _UNSAFE.sub("_", text).strip("_")
    return f"{readable}_{digest}" if readable else f"n_{digest}"
