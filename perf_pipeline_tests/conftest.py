"""Shared test settings.

Hypothesis profiles, chosen with `HYPOTHESIS_PROFILE` (default `ci`):

- `ci`: derandomized (the same examples on every run, so a red build is reproducible) and a
  modest number of examples, so each property stays within a few seconds;
- `long`: random and ten times the examples, for hunting before a release
  (`HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest perf_pipeline_tests -k properties`).

The `slow` marker names tests that take more than about 20 seconds (CI still runs them).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("long", max_examples=600, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than about 20 seconds; CI still runs it")
