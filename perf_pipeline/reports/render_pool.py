"""Evidently renders a run's reports on every core, in worker processes.

Building a report is almost all Evidently's own Python (its metrics, then Plotly figures built
and validated one property at a time): one core for one to three seconds per report, whatever
the day's size, since each side is sampled. Days are independent, so a run of many days hands
them to a process pool sized to the cores this process may use, and a year's reports take
about half as long on two cores as on one.

The workers come from a fork server that imports Evidently once before forking, so each worker
starts warm (a spawned worker would import Evidently, several seconds, on its own). A run of a
few days renders in this process, since a pool would cost more to start than it saves, unless
the command started the server as it began (`warm_workers.py`). So does a process that may not
have children (a daemonic worker of some executor).

The parent reads and samples the days in DuckDB and sends each day's sample (at most
`MAX_ROWS` rows a side) to a worker; at most a few days are in flight, so memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path

from perf_pipeline.config import ModelConfig
from perf_pipeline.reports.day_data import DayData
from perf_pipeline.warm_workers import RENDERER_MODULES, imap_ordered, is_warm, worker_count

# Fewer days than this render in process, unless the server was started with the command
# (`warm_workers.py`): a pool's start (the fork server importing Evidently, about 3 s of one core)
# is worth it only over several reports.
MIN_POOL_DAYS = 6

RenderJob = tuple[ModelConfig, dt.date, DayData, Path, str]


def _render(job: RenderJob) -> tuple[dt.date, Path]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from perf_pipeline.reports.evidently_report import write_report

    model, day, data, target, digest = job
    return day, write_report(model, day, data, target, digest)


def renders_in_process(day_count: int) -> bool:
    """Whether `day_count` reports are drawn in this process rather than by a pool's workers."""
    return worker_count() == 1 or (day_count < MIN_POOL_DAYS and not is_warm())


def _import_renderer() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    for module in RENDERER_MODULES:
        importlib.import_module(module)


def warm_up(day_count: int) -> None:
    """Start importing Evidently on a thread when `day_count` days will render in this process.

    Its import costs seconds of one core; a run of one or a few days would otherwise pay it on
    the step's critical path, after DuckDB has read the days. On a thread it overlaps that
    reading (DuckDB releases the interpreter lock while it works). A pooled run skips it: the
    workers' fork server imports Evidently, and this process never does.
    """
    if day_count and renders_in_process(day_count):
        threading.Thread(target=_import_renderer, name="evidently-import", daemon=True).start()


def render_all(jobs: Iterable[RenderJob]) -> Iterator[tuple[dt.date, Path]]:
    """Render each (model, day, data, target, digest) of `jobs`, yielding (day, path) as each
    report is written, in day order. A worker's error is raised here, failing the step.

    The first `MIN_POOL_DAYS` jobs are held back: if `jobs` ends before that many, they render
    in this process and no pool is started."""
    jobs = iter(jobs)
    first = list(islice(jobs, MIN_POOL_DAYS))
    if not first:
        return
    if renders_in_process(len(first)):
        for job in chain(first, jobs):
            yield _render(job)
        return
    workers = min(worker_count(), len(first))
    yield from imap_ordered(_render, chain(first, jobs), workers, RENDERER_MODULES)
