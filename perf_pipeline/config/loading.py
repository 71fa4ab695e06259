"""Loading the models file: every problem of the whole file in one message, never a traceback.

The file is read in three passes, each collecting what it finds instead of stopping at the first
problem: the YAML itself (duplicate keys, keys YAML turned into booleans or numbers), each model's
fields (pydantic), and the rules that tie fields to the code they drive (`rules`). The message
has one line per problem, each naming the file, the model and the key path, e.g.

    data/models.yaml: model 'card_fraud': models.card_fraud.thresholds.roc_aucc: unknown metric
    for binary_classification; did you mean 'roc_auc'? valid: accuracy, precision, ...
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from perf_pipeline.config.model import FILE_RULES, ModelConfig
from perf_pipeline.config.rules import model_problems, model_warnings
from perf_pipeline.config.yaml_source import KeyPath, Problem, read_yaml

TOP_LEVEL_KEYS = ("models", "notifications")
# Settings the rules read for everything else: when one of them is broken, the rules would only
# report consequences of it, so they wait until it is fixed.
_RULES_NEED = frozenset({"task", "features", "k", "classes", "positive_class", "model_id"})
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


class ModelsFileError(ValueError):
    """The models file is missing or invalid; the message names the file and every problem."""


def load_models(path: Path) -> dict[str, ModelConfig]:
    """Read and validate the models file; the returned dict keeps the file's order."""
    return load_models_with_warnings(path)[0]


def load_models_with_warnings(
    path: Path, today: dt.date | None = None
) -> tuple[dict[str, ModelConfig], list[str]]:
    """The models and one line per warning (settings that load but look unintended, such as a
    `start_date` in the future). Raises `ModelsFileError` listing every problem."""
    models, problems = read_models_file(path)
    if problems:
        raise ModelsFileError("\n".join(format_problem(path, p) for p in problems))
    day = today or dt.datetime.now(dt.UTC).date()
    warnings = [
        format_problem(path, _in_model(model_id, w))
        for model_id, model in models.items()
        for w in model_warnings(model, day)
    ]
    return models, warnings


def read_models_file(path: Path) -> tuple[dict[str, ModelConfig], list[Problem]]:
    """Every model that validates, and every problem of the file (locations from its root)."""
    if not path.exists():
        return {}, [Problem((), "models file not found")]
    try:
        raw, problems = read_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return {}, [Problem((), f"not valid YAML: {exc}")]
    raw = {} if raw is None else raw
    models = raw.get("models") if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        return {}, [*problems, Problem((), "expected a top-level 'models:' mapping of model ids")]
    problems += [
        Problem((key,), f"unknown top-level key; valid: {', '.join(TOP_LEVEL_KEYS)}")
        for key in raw
        if key not in TOP_LEVEL_KEYS
    ]
    problems += notification_shape_problems(raw.get("notifications"))
    parsed: dict[str, ModelConfig] = {}
    for model_id, body in models.items():
        model, found = validate_model(model_id, body)
        problems += [_in_model(model_id, p) for p in found]
        if model is not None and not found:
            parsed[model_id] = model
    return parsed, sorted(problems, key=lambda p: _order(p, list(models)))


def notification_shape_problems(entries: object) -> list[Problem]:
    """`notifications:` is a list of mappings, each naming its channel `kind`.

    Only the shape is checked here: a channel kind may be registered by a user's module in
    `defs/`, imported after the models file is read, so kinds and their options are checked
    where channels are built (`perf-pipeline validate` and every notifier run).
    """
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [Problem(("notifications",), "expected a list of channels ({kind: ...})")]
    return [
        Problem(("notifications", index), "expected a mapping with a text 'kind'")
        for index, entry in enumerate(entries)
        if not (isinstance(entry, dict) and isinstance(entry.get("kind"), str))
    ]


def _order(problem: Problem, model_ids: list[str]) -> tuple[int, str]:
    """File-level problems first, then model by model in the file's order."""
    loc = problem.loc
    if len(loc) >= 2 and loc[0] == "models" and loc[1] in model_ids:
        return model_ids.index(str(loc[1])) + 1, ""
    return 0, ""


def _in_model(model_id: str, problem: Problem) -> Problem:
    return Problem(("models", model_id, *problem.loc), problem.message)


def validate_model(model_id: str, body: object) -> tuple[ModelConfig | None, list[Problem]]:
    """The model and the problems of its entry (locations relative to the entry)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return None, [Problem((), f"expected a mapping of settings, got {body!r}")]
    try:
        model = _validate(model_id, body)
    except ValidationError as exc:
        return None, [*map(_field_problem, exc.errors()), *_rules_on_the_rest(model_id, body, exc)]
    return model, model_problems(model)


def _validate(model_id: str, body: dict) -> ModelConfig:
    return ModelConfig.model_validate({**body, "model_id": model_id}, context={FILE_RULES: True})


def _rules_on_the_rest(model_id: str, body: dict, exc: ValidationError) -> list[Problem]:
    """The rules' problems with the fields that failed left out, so one message still reports on
    everything else. Rules about a left-out field are dropped with it (they would describe the
    file without it), and nothing is said when a setting every rule depends on (the task, the
    features, ...) failed."""
    trimmed = copy.deepcopy(body)
    removed: list[tuple] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        needed = not loc or loc[0] in _RULES_NEED or (error["type"] == "missing" and len(loc) == 1)
        if needed and loc != ("start_date",):
            return []
        path = _remove_mapping_key(trimmed, loc)
        if path:
            removed.append(path)
    trimmed.setdefault("start_date", dt.date(2000, 1, 1))
    try:
        rest = _validate(model_id, trimmed)
    except ValidationError:
        return []
    return [p for p in model_problems(rest) if not any(p.loc[: len(r)] == r for r in removed)]


def _remove_mapping_key(data: Any, loc: tuple) -> tuple:
    """Remove the innermost mapping key on `loc` that is not inside a list (a list item is
    left whole, so the positions the rules report stay the file's); its path, or ()."""
    path: tuple = ()
    container, key = None, None
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            break
        container, key, path = data, part, (*path, part)
        data = data[part]
    if container is not None:
        container.pop(key, None)
    return path


def _field_problem(error: dict) -> Problem:
    """A pydantic error as a problem: the key path, a plain message, the valid keys if any."""
    loc = tuple(error["loc"])
    if loc == ("model_id",):
        loc = ()
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        message = "unknown key" + (f"; valid: {', '.join(valid)}" if valid else "")
    elif error["type"] != "missing" and not isinstance(error.get("input"), dict | list):
        message += f" (got {error.get('input')!r})"
    return Problem(loc, message)


def _valid_keys(loc: tuple) -> list[str]:
    """The keys the settings class at `loc` accepts (its fields, `model_id` aside)."""
    current: Any = ModelConfig
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        else:  # inside dict[str, X] or list[X]: the part is a key or an index
            args = typing.get_args(current)
            current = args[-1] if args else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [name for name in current.model_fields if name != "model_id"]
    return []


def format_problem(path: Path, problem: Problem) -> str:
    """`<file>: model '<id>': <key path>: <message>` (no model part for file-level problems)."""
    loc = problem.loc
    where = f"{path}: "
    if len(loc) >= 2 and loc[0] == "models":
        where += f"model {loc[1]!r}: "
    return where + (f"{key_path(loc)}: " if loc else "") + problem.message


def key_path(loc: KeyPath) -> str:
    """`models.card_fraud.thresholds.roc_aucc`; list items as `[0]`, unusual keys quoted
    (`models.m.drift.methods["a b"]`) so the path reads back unambiguously."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text
