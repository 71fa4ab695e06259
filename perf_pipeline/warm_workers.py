"""Worker processes forked from a server that has already imported the heavy libraries.

Great Expectations (the gate) and Evidently (the reports) each cost seconds of one core to
import. A command that runs its pipeline in its own process spends its first seconds on one
core too, importing Dagster and loading the code location. So the command starts the fork
server first (`start`), before it imports Dagster: the server imports both libraries on the
other core, and the gate's days and the run's reports, one day or a year of them, go to workers
forked from it, warm when the steps reach them. The command's own process imports neither.

Without that early start (a run launched from the UI, a test calling `materialize`) nothing
changes: the gate validates in its process, and reports go to a pool only when a run has many
days (`render_pool.py`), whose server then imports Evidently alone.

This module imports nothing heavy: it must be usable before anything else is loaded.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import forkserver
from typing import TypeVar

from perf_pipeline.cores import available_cores

# `PERF_PIPELINE_REPORT_WORKERS=1` keeps the gate and the reports in process; a number caps the
# workers.
WORKERS_ENV = "PERF_PIPELINE_REPORT_WORKERS"
# What validating a day imports, then what drawing a report imports: the order the run needs them.
GATE_MODULES = ("great_expectations", "perf_pipeline.quality.day_validation")
RENDERER_MODULES = ("evidently", "evidently.presets", "perf_pipeline.reports.evidently_report")
# Jobs queued per worker: enough to keep each busy, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 2
# Both libraries phone home unless told not to; the server and its workers inherit this.
_QUIET = {"GX_ANALYTICS_ENABLED": "False", "DO_NOT_TRACK": "1"}

Job = TypeVar("Job")
Result = TypeVar("Result")

_started_here = False


def worker_count() -> int:
    """How many worker processes may work; 1 means in this process."""
    if multiprocessing.current_process().daemon:
        return 1
    return max(1, int(os.environ.get(WORKERS_ENV) or available_cores()))


def _context(modules: tuple[str, ...]) -> multiprocessing.context.ForkServerContext:
    """The fork server's context; `modules` are what it imports if it is not running yet."""
    for name, value in _QUIET.items():
        os.environ.setdefault(name, value)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(modules))
    return context


def start() -> bool:
    """Start the server now, unless the work is to stay in this process; whether it was.

    Returns at once: the server imports the libraries in its own process while this one goes on.
    """
    global _started_here
    if worker_count() == 1:
        return False
    _context(GATE_MODULES + RENDERER_MODULES)
    forkserver.ensure_running()
    _started_here = True
    return True


def is_warm() -> bool:
    """Whether this process started the server early, so a pool costs nothing to start."""
    return _started_here


def imap_ordered(
    work: Callable[[Job], Result], jobs: Iterable[Job], workers: int, modules: tuple[str, ...]
) -> Iterator[Result]:
    """`work` over `jobs` in `workers` processes forked from the server, results in job order.

    A worker's error is raised here. `modules` are what a server started now imports.
    """
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(modules)) as pool:
        pending: deque[Future[Result]] = deque()
        for job in jobs:
            pending.append(pool.submit(work, job))
            while len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
