"""Reading the models file's YAML without losing what plain `yaml.safe_load` silently hides.

`safe_load` keeps the last of two equal keys (a model defined twice silently replaces the first)
and turns unquoted keys such as `yes:`, `on:` or `1:` into booleans and numbers. Walking the
composed node tree first finds both, with their key path and line, before the document is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml

KeyPath = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_WHAT_YAML_MADE = {
    "tag:yaml.org,2002:bool": "a boolean (yes/no/on/off/true/false are booleans to YAML)",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass(frozen=True)
class Problem:
    """One problem at a key path of the file (`("models", "m", "thresholds", "roc_aucc")`)."""

    loc: KeyPath
    message: str


def read_yaml(text: str) -> tuple[object, list[Problem]]:
    """The document with every non-text key left out, and the problems found on the way.

    Raises `yaml.YAMLError` when the text is not YAML at all.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        problems = list(_key_problems(node, (), set()))
        return _text_keys_only(loader.construct_document(node)), problems
    finally:
        loader.dispose()


def _key_problems(node: yaml.Node, loc: KeyPath, seen: set[int]) -> Iterator[Problem]:
    if id(node) in seen:  # an alias: its node was walked where it was anchored
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _key_problems(item, (*loc, index), seen)
    if not isinstance(node, yaml.MappingNode):
        return
    first_line: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
            yield Problem((*loc, _key_text(key_node)), _not_text(key_node, line))
            continue
        name = key_node.value
        if name in first_line:
            yield Problem(
                (*loc, name),
                f"defined twice (lines {first_line[name]} and {line}); YAML would silently keep "
                "only the last one",
            )
        first_line.setdefault(name, line)
        yield from _key_problems(value_node, (*loc, name), seen)
    # A list or mapping as a key cannot even be built into a dict; it is named above, so drop it.
    node.value = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _key_text(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else f"<{node.id} key>"


def _not_text(node: yaml.Node, line: int) -> str:
    if not isinstance(node, yaml.ScalarNode):
        return f"line {line}: a key must be text, not a {node.id}"
    made = _WHAT_YAML_MADE.get(node.tag, f"a value of type {node.tag}")
    return (
        f"line {line}: YAML reads the key {node.value!r} as {made}, not text; "
        f"quote it: '{node.value}':"
    )


def _text_keys_only(value: object) -> object:
    """The document without the non-text keys (each is already a named problem)."""
    if isinstance(value, dict):
        return {k: _text_keys_only(v) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list):
        return [_text_keys_only(v) for v in value]
    return value
