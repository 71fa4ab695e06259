"""Who owns a model and how it is labelled in the Dagster catalog: `owners` and `tags`.

Both go onto every asset of the model. Dagster refuses owners and tags outside its rules only
when the definitions load, with a message that names an asset, not the models file; checking
them here, with the same rules, makes `perf-pipeline validate` name the model and the key.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Dagster's rules: an owner is an e-mail address or `team:<name>`; a tag key is up to 63 of
# `[A-Za-z0-9_.-]`, optionally after a `<namespace>/`; a tag value is up to 63 of the same.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG_PART = r"[A-Za-z0-9_.-]{1,63}"
_TAG_KEY = re.compile(rf"^({_TAG_PART}/)?{_TAG_PART}$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")


def _owner(value: str) -> str:
    if _EMAIL.match(value) or (value.startswith("team:") and len(value) > len("team:")):
        return value
    raise ValueError(f"owner {value!r} must be an e-mail address or 'team:<name>'")


def _tags(value: dict[str, str]) -> dict[str, str]:
    for key, tag in value.items():
        if not _TAG_KEY.match(key):
            raise ValueError(
                f"tag key {key!r}: up to 63 letters, digits, '_', '-' or '.', optionally after "
                "'<namespace>/'"
            )
        if not _TAG_VALUE.match(tag):
            raise ValueError(
                f"tag {key!r}: value {tag!r} must be up to 63 letters, digits, '_', '-' or '.'"
            )
    return value


Owners = list[Annotated[str, AfterValidator(_owner)]]
Tags = Annotated[dict[str, str], AfterValidator(_tags)]
