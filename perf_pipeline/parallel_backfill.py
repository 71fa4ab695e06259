"""The models of one `perf-pipeline backfill`, each in its own process, several at once.

A model's run is one process's work at a time (its steps follow one another), so a backfill of
several models run one after the other leaves all but one core idle for most of it. Here each
model's run goes to a worker process of a pool sized to the cores; the runs share nothing but
the lake (Parquet written per table, model and day, each file through a rename) and the Dagster
instance, which both take concurrent writers (`perf_pipeline_tests/test_parallel_runs.py`).

Stopping is as safe as for one run, and stops every model:

- Ctrl-C (or SIGINT) reaches this process only: each worker has its own process group, so a
  terminal's Ctrl-C is not delivered twice. This process passes one SIGINT to each worker,
  whose run then ends as an interrupted run would, and raises `BackfillInterrupted`.
- If this process is killed, the kernel kills the workers with it (Linux's parent-death
  signal), so no orphan keeps writing beside the backfill that is started next.

Workers are spawned (not forked): they load the code location themselves, a second or two each,
and inherit `PERF_PIPELINE_HOME` and `DAGSTER_HOME` from the environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor, wait
from typing import Any

from perf_pipeline.config import ModelConfig
from perf_pipeline.long_lived import freeze_survivors
from perf_pipeline.paths import DataPaths
from perf_pipeline.runner import BackfillInterrupted, RunOutcome

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Worker set-up: its own process group, and death when the backfill's process dies."""
    os.setpgrp()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: an orphan finishes its run instead
        return
    if os.getppid() != parent_pid:  # the parent died before the signal was set
        os._exit(1)


def _run_model(
    root: str,
    model_id: str,
    start: dt.date,
    end: dt.date,
    log_level: str,
    run_config: dict[str, Any] | None,
) -> RunOutcome:
    """One model's run of the range, in a worker: the code location as `perf-pipeline` loads
    it, the instance of `DAGSTER_HOME`."""
    import dagster as dg

    from perf_pipeline.config import load_models
    from perf_pipeline.definitions import build_definitions
    from perf_pipeline.paths import resolve_data_root
    from perf_pipeline.runner import backfill

    paths = DataPaths(resolve_data_root(root))
    model = load_models(paths.models_file)[model_id]
    with dg.DagsterInstance.get() as instance:
        outcomes = backfill(
            build_definitions(paths.root), instance, [model], start, end, log_level, run_config
        )
    freeze_survivors()  # a spawned worker exits through the interpreter's final collection
    return outcomes[0]


def _interrupt_workers() -> None:
    for child in multiprocessing.active_children():
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGINT)


def _outcomes(futures: dict[Future, str]) -> list[RunOutcome]:
    """Every run's outcome, in the order the models were given; an interrupted run raises."""
    outcomes, interrupted = {}, []
    for future, model_id in futures.items():
        error = future.exception()
        if isinstance(error, KeyboardInterrupt):
            interrupted.append(model_id)
        elif error is not None:
            raise error
        else:
            outcomes[model_id] = future.result()
    if interrupted:
        raise BackfillInterrupted(f"interrupted: {', '.join(interrupted)}")
    return [outcomes[m] for m in futures.values()]


def parallel_backfill(
    paths: DataPaths,
    models: list[ModelConfig],
    start: dt.date,
    end: dt.date,
    workers: int,
    log_level: str = "INFO",
    run_config: dict[str, Any] | None = None,
) -> list[RunOutcome]:
    """`runner.backfill` of each model in its own process, at most `workers` at once."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
    with pool:
        futures = {
            pool.submit(
                _run_model, str(paths.root), m.model_id, start, end, log_level, run_config
            ): m.model_id
            for m in models
            if max(start, m.start_date) <= end
        }
        try:
            wait(futures)
        except KeyboardInterrupt:
            _interrupt_workers()
            for future in futures:
                future.cancel()  # a model not started yet never starts
            wait(futures)
            raise BackfillInterrupted("interrupted before every model's run ended") from None
        return _outcomes(futures)
