"""Which executor runs the steps of a run: chosen by configuration, never in the assets.

`PERF_PIPELINE_EXECUTOR` in the environment of the code location (and of its workers) picks it:

- unset or `default`: Dagster's own, one process per step or in-process, as the run config says;
- `celery`: dagster-celery, steps queued to Celery workers (broker and result backend in the
  run config, `deploy/celery.yaml`);
- `k8s`: dagster-k8s's `k8s_job_executor`, one Kubernetes job per step (`deploy/`).

The integrations are imported only when chosen, so neither is needed on a laptop.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTOR_ENV = "PERF_PIPELINE_EXECUTOR"
CHOICES = ("default", "celery", "k8s")


class ExecutorChoiceError(ValueError):
    """The environment names an executor this project does not know."""


def configured_executor() -> dg.ExecutorDefinition | None:
    """The executor the environment asks for; None keeps Dagster's default."""
    choice = (os.environ.get(EXECUTOR_ENV) or "default").strip().lower()
    if choice == "default":
        return None
    if choice == "celery":
        from dagster_celery import celery_executor

        return celery_executor
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ExecutorChoiceError(
        f"{EXECUTOR_ENV}={choice!r}: unknown executor; choose one of {', '.join(CHOICES)}"
    )
