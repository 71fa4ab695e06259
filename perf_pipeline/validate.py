"""`perf-pipeline validate`: the models file checked as deeply as it can be without running.

Loading checks every setting against the code it drives; this also imports Great Expectations
(too slow for every load) to check that each custom expectation names a real class and that the
class accepts the arguments given, so a typo in `min_valu` fails here, not on the first run.
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from typing import TextIO

from perf_pipeline.config import ModelConfig, format_problem, read_models_file
from perf_pipeline.config.model import CustomExpectation
from perf_pipeline.config.rules import model_warnings
from perf_pipeline.config.yaml_source import Problem
from perf_pipeline.paths import DataPaths

OK, INVALID = 0, 2


def validate_command(paths: DataPaths, out: TextIO | None = None) -> int:
    """Print `OK: N models (ids)` and any warnings (exit 0), or every problem (exit 2)."""
    out = out or sys.stdout
    path = paths.models_file
    models, problems = read_models_file(path)
    problems += [p for model in models.values() for p in expectation_problems(model)]
    if not problems:  # channels are built only from a file whose shape is right
        problems += channel_problems(paths)
    if problems:
        print("\n".join(format_problem(path, p) for p in problems), file=out)
        return INVALID
    today = dt.datetime.now(dt.UTC).date()
    print(f"OK: {len(models)} models ({', '.join(models)})", file=out)
    for model_id, model in models.items():
        for warning in model_warnings(model, today):
            where = Problem(("models", model_id, *warning.loc), warning.message)
            print(f"warning: {format_problem(path, where)}", file=out)
    return OK


def channel_problems(paths: DataPaths) -> list[Problem]:
    """Every `notifications:` problem, with the channel kinds that modules in `defs/` register
    known, so an unknown kind or a bad option fails here rather than on the first alert."""
    from perf_pipeline.alerts.delivery import channel_config_problems
    from perf_pipeline.definitions import defs_folder_definitions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dagster's preview notices about its own loaders
        defs_folder_definitions()  # imports the defs folder, where user channels register
    prefix = f"{paths.models_file}: "
    # Each message already names its entry (`notifications[1].kind: ...`).
    return [Problem((), p.removeprefix(prefix)) for p in channel_config_problems(paths)]


def expectation_problems(model: ModelConfig) -> list[Problem]:
    """Each custom expectation built with Great Expectations, as the gate will build it."""
    problems = []
    for index, entry in enumerate(model.quality.expectations):
        loc = ("models", model.model_id, "quality", "expectations", index)
        problems += [Problem((*loc, *sub), message) for sub, message in _build(entry)]
    return problems


def _build(entry: CustomExpectation) -> list[tuple[tuple, str]]:
    """(location within the entry, message) of what Great Expectations refuses."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

    cls = getattr(gx.expectations, entry.expectation, None)
    if not (isinstance(cls, type) and issubclass(cls, Expectation)):
        return [(("expectation",), f"Great Expectations has no expectation {entry.expectation!r}")]
    try:
        cls(**entry.kwargs)
    except (ValueError, TypeError) as exc:
        return _gx_errors(exc)
    return []


def _gx_errors(exc: Exception) -> list[tuple[tuple, str]]:
    """Great Expectations' own pydantic errors, one per argument (a field it checks several
    ways is named once, with its first message)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return [((), str(exc))]
    found: dict[tuple, str] = {}
    for error in errors():
        loc = tuple(p for p in error.get("loc", ()) if p != "__root__")
        message = error.get("msg", "invalid")
        found.setdefault(
            loc, "unknown argument" if error.get("type") == "value_error.extra" else message
        )
    return list(found.items())
