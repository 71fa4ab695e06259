"""Launch pipeline runs on the Dagster instance the UI shows (`DAGSTER_HOME`).

The command line and the UI share one instance, so a backfill started from a terminal appears in
`dagster dev` with its logs, asset materializations and check results.

A run executes in this process unless an executor is configured (`PERF_PIPELINE_EXECUTOR`, see
`perf_pipeline.executors`, or an `execution:` block in the run config such as
`deploy/k8s-executor.yaml`): then it is rebuilt from the code location
(`perf_pipeline.definitions`, reading `PERF_PIPELINE_HOME`) and its steps go wherever that
executor sends them, Celery workers or Kubernetes jobs, with no change to the assets.

Stopping a backfill (Ctrl-C, a killed process) is safe at any point: every table file is
written to a temporary name and renamed, so the next backfill of the range simply recomputes
the days and replaces what the stopped run wrote.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from perf_pipeline.alerts.delivery import pending_ids
from perf_pipeline.config import ModelConfig
from perf_pipeline.definitions import daily_job_name
from perf_pipeline.executors import executor_choice
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage

DAGSTER_HOME_ENV = "DAGSTER_HOME"
# Every run of a model carries its id: the run queue limits runs per model by this tag
# (deploy/dagster.yaml).
MODEL_TAG = "perf_pipeline/model"
CODE_LOCATION_MODULE = "perf_pipeline.definitions"


INSTANCE_READY = ".instance_ready"


def _create_instance_once(home: Path) -> None:
    """Open the instance once under an exclusive lock, so its storage exists before any run.

    A SQLite instance creates its tables when a process first opens it; two `perf-pipeline`
    commands started at once on a fresh home (two models' backfills side by side) race on that
    and one fails with `table ... already exists`. The first to take the lock creates the
    tables, the others wait for it; a marker written afterwards spares later commands the lock.
    """
    if (home / INSTANCE_READY).exists():
        return
    import fcntl

    with (home / ".instance.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with dg.DagsterInstance.from_config(str(home)):
            pass
        (home / INSTANCE_READY).touch()


def ensure_dagster_home(paths: DataPaths) -> Path:
    """`DAGSTER_HOME`, defaulting to `<data root>/dagster_home` so runs persist for the UI."""
    home = Path(os.environ.get(DAGSTER_HOME_ENV) or paths.state / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    instance_config = home / "dagster.yaml"
    if not instance_config.exists():
        # Nothing leaves the machine unless a user configures it: Dagster's telemetry too.
        # Written whole under a temporary name: a command started beside this one never reads
        # half a file.
        tmp = home / f".dagster.yaml.{os.getpid()}.tmp"
        tmp.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        os.replace(tmp, instance_config)
    os.environ[DAGSTER_HOME_ENV] = str(home)
    _create_instance_once(home)
    return home


@dataclass(frozen=True)
class RunOutcome:
    model_id: str
    start: dt.date
    end: dt.date
    run_id: str
    success: bool
    failed_steps: list[str]


def _log_config(level: str) -> dict:
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def _run_config(log_level: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {**_log_config(log_level), **(extra or {})}


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    run_config: dict[str, Any],
    tags: dict[str, str],
) -> dg.ExecutionResult:
    """In this process, or, when an executor is configured, through that executor on a job
    rebuilt from the code location (which executors need to send steps elsewhere)."""
    if executor_choice() == "default" and "execution" not in run_config:
        job = defs.resolve_job_def(job_name)
        return job.execute_in_process(
            run_config=run_config, instance=instance, tags=tags, raise_on_error=False
        )
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repository = ReconstructableRepository.for_module(CODE_LOCATION_MODULE, "defs", os.getcwd())
    return dg.execute_job(
        repository.get_reconstructable_job(job_name),
        instance=instance,
        run_config=run_config,
        tags=tags,
        raise_on_error=False,
    )


class BackfillInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a model's run: the backfill stops there, not at the next
    model, and the command exits non-zero; running it again finishes the range."""


_INTERRUPT_ERRORS = {"KeyboardInterrupt", "DagsterExecutionInterruptedError"}


def _error_chain(event: dg.DagsterEvent) -> list[tuple[str, str]]:
    data = event.step_failure_data if event.is_step_failure else None
    error = data.error if data else None
    chain = []
    while error is not None:
        chain.append((error.cls_name or "", error.message or ""))
        error = error.cause or error.context
    return chain


def was_interrupted(result: dg.ExecutionResult) -> bool:
    """Whether a run ended because the process was interrupted. Dagster turns Ctrl-C between
    steps into `DagsterExecutionInterruptedError`; inside a DuckDB query, DuckDB catches it and
    raises `Query interrupted`, so the run fails like any other and only its errors tell."""
    for event in result.all_events:
        if event.is_run_failure and "interrupt" in (event.message or "").lower():
            return True
        for cls_name, message in _error_chain(event):
            if cls_name in _INTERRUPT_ERRORS or "Query interrupted" in message:
                return True
    return False


def backfill(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    models: list[ModelConfig],
    start: dt.date,
    end: dt.date,
    log_level: str = "INFO",
    run_config: dict[str, Any] | None = None,
) -> list[RunOutcome]:
    """One run per model for the whole range (the single-run backfill policy), never per day.

    `run_config` is merged into each run's config (an `execution:` block configures the
    executor the code location was loaded with, `perf_pipeline.executors`).
    """
    outcomes = []
    for model in models:
        first = max(start, model.start_date)
        if first > end:
            continue
        result = _execute(
            defs,
            instance,
            daily_job_name(model.model_id),
            _run_config(log_level, run_config),
            tags={
                ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
                "perf_pipeline/launched_by": "cli",
                MODEL_TAG: model.model_id,
            },
        )
        if not result.success and was_interrupted(result):
            raise BackfillInterrupted(f"{model.model_id}: run {result.run_id} was interrupted")
        failed = [e.step_key for e in result.all_events if e.is_step_failure and e.step_key]
        outcomes.append(
            RunOutcome(model.model_id, first, end, result.run_id, result.success, failed)
        )
    return outcomes


def pending_alert_ids(paths: DataPaths) -> list[str]:
    """Alerts some channel serving their model has not received (new, or a channel was down)."""
    if not has_files(paths, "alerts"):
        return []
    with PipelineStorage(data_root=str(paths.root)).get_connection() as con:
        rows = con.execute(
            f"SELECT DISTINCT alert_id, model_id, severity FROM {read_table_sql(paths, 'alerts')}"
        ).fetchall()
    return pending_ids(paths, [{"alert_id": a, "model_id": m, "severity": s} for a, m, s in rows])
