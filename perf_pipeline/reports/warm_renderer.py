"""The report workers' fork server, started when a command starts, before it imports Dagster.

Reports are drawn by worker processes forked from a server that has imported Evidently
(`render_pool.py`). Evidently costs seconds of one core to import. A command that runs its
pipeline in its own process spends its first seconds on one core too, importing Dagster and
loading the code location; started then, the server imports Evidently on the other core, and
the run's reports, one day or a year of them, go to workers that are warm when the report step
reaches them. The command's own process then never imports Evidently.

This module imports nothing heavy: it must be usable before anything else is loaded.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver

from perf_pipeline.cores import available_cores

# `PERF_PIPELINE_REPORT_WORKERS=1` renders in process; a number caps the workers.
WORKERS_ENV = "PERF_PIPELINE_REPORT_WORKERS"
# What drawing a report imports: the fork server imports it once, before forking its workers.
RENDERER_MODULES = ("evidently", "evidently.presets", "perf_pipeline.reports.evidently_report")

_started_here = False


def worker_count() -> int:
    """How many worker processes may render; 1 means in this process."""
    if multiprocessing.current_process().daemon:
        return 1
    return max(1, int(os.environ.get(WORKERS_ENV) or available_cores()))


def forkserver_context() -> multiprocessing.context.ForkServerContext:
    """The fork server's context, told what to import before it forks a worker."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # inherited by the server and its workers
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(RENDERER_MODULES))
    return context


def start() -> bool:
    """Start the server now, unless reports are to be drawn in this process; whether it was.

    Returns at once: the server imports Evidently in its own process while this one goes on.
    """
    global _started_here
    if worker_count() == 1:
        return False
    forkserver_context()
    forkserver.ensure_running()
    _started_here = True
    return True


def is_warm() -> bool:
    """Whether this process started the server early, so a pool costs nothing to start."""
    return _started_here
