"""Which executor runs the steps of a run: chosen by configuration, never in the assets.

`PERF_PIPELINE_EXECUTOR` in the environment of the code location (and of its workers) picks it:

- unset or `default`: Dagster's own, one process per step or in-process, as the run config says;
- `celery`: dagster-celery, steps queued to Celery workers; the broker and result backend come
  from `PERF_PIPELINE_CELERY_BROKER` and `PERF_PIPELINE_CELERY_BACKEND`, the variables the
  workers' `deploy/celery.yaml` reads, so runs from the UI, schedules, sensors and the command
  line all go through the workers with no run config;
- `k8s`: dagster-k8s's `k8s_job_executor`, one Kubernetes job per step (`deploy/`).

The integrations are imported only when chosen, so neither is needed on a laptop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line reads the choice before it imports Dagster
    import dagster as dg

EXECUTOR_ENV = "PERF_PIPELINE_EXECUTOR"
CELERY_BROKER_ENV = "PERF_PIPELINE_CELERY_BROKER"
CELERY_BACKEND_ENV = "PERF_PIPELINE_CELERY_BACKEND"
CHOICES = ("default", "celery", "k8s")


class ExecutorChoiceError(ValueError):
    """The environment names an executor this project does not know."""


def executor_choice() -> str:
    return (os.environ.get(EXECUTOR_ENV) or "default").strip().lower()


def _celery() -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            "broker": {"env": CELERY_BROKER_ENV},
            "backend": {"env": CELERY_BACKEND_ENV},
            # A step is seconds to minutes of DuckDB work: a worker takes one at a time, and a
            # worker that dies mid-step hands it back.
            "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True},
        },
        name="celery",
    )


def configured_executor() -> dg.ExecutorDefinition | None:
    """The executor the environment asks for; None keeps Dagster's default."""
    choice = executor_choice()
    if choice == "default":
        return None
    if choice == "celery":
        return _celery()
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ExecutorChoiceError(
        f"{EXECUTOR_ENV}={choice!r}: unknown executor; choose one of {', '.join(CHOICES)}"
    )
