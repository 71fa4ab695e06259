"""Evidently renders a run's reports on every core, in worker processes.

Building a report is almost all Evidently's own Python (its metrics, then Plotly figures built
and validated one property at a time): one core for one to three seconds per report, whatever
the day's size, since each side is sampled. A report's two dashboards (drift, quality) and the
days are independent, so each dashboard is a job for a process pool sized to the cores this
process may use: a year's reports take about half as long on two cores as on one, and a single
day's two dashboards are drawn at once.

The workers come from a fork server that imports Evidently once before forking, so each worker
starts warm (a spawned worker would import Evidently, several seconds, on its own). A run of a
few days renders in this process, since a pool would cost more to start than it saves, unless
the command started the server as it began (`warm_workers.py`). So does a process that may not
have children (a daemonic worker of some executor).

The parent reads and samples the days in DuckDB, sends each day's samples (at most `MAX_ROWS`
rows a side) to the workers and puts each page together from the dashboards they hand back;
at most a few jobs are in flight, so memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from itertools import chain, islice

from perf_pipeline.config import ModelConfig
from perf_pipeline.reports.day_data import DayData, DaySides
from perf_pipeline.reports.standalone import Dashboard
from perf_pipeline.warm_workers import RENDERER_MODULES, imap_ordered, is_warm, worker_count

# Fewer days than this render in process, unless the server was started with the command
# (`warm_workers.py`): a pool's start (the fork server importing Evidently, about 3 s of one core)
# is worth it only over several reports.
MIN_POOL_DAYS = 6
# The dashboards of a report, each a job of its own.
DRIFT, QUALITY = "drift", "quality"
SECTIONS_PER_REPORT = 2

# (DRIFT, model, day, the day's sides) or (QUALITY, model, day, the day's data).
SectionJob = tuple[str, ModelConfig, dt.date, DaySides | DayData]


def _draw(job: SectionJob) -> tuple[dt.date, Dashboard | None]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from perf_pipeline.reports.evidently_report import draw_drift, draw_quality

    kind, model, day, inputs = job
    if kind == DRIFT:
        return day, draw_drift(model, day, inputs)
    if not isinstance(inputs, DayData):
        raise TypeError(f"{kind}: the quality dashboard is drawn from a DayData")
    return day, draw_quality(model, day, inputs)


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


def draw_all(jobs: Iterable[SectionJob]) -> Iterator[tuple[dt.date, Dashboard | None]]:
    """Draw each dashboard of `jobs`, yielding (day, dashboard) in job order. A worker's error
    is raised here, failing the step.

    Once the server is warm every job goes to a worker as soon as it is made, so a day's drift
    dashboard is drawn while its labels are read and beside its quality dashboard. Otherwise
    the first `MIN_POOL_DAYS` reports' jobs are held back: if `jobs` ends before that many,
    they are drawn in this process and no pool is started."""
    jobs = iter(jobs)
    if worker_count() == 1:
        yield from map(_draw, jobs)
        return
    if not is_warm():
        first = list(islice(jobs, MIN_POOL_DAYS * SECTIONS_PER_REPORT))
        if renders_in_process(len(first) // SECTIONS_PER_REPORT):
            yield from map(_draw, chain(first, jobs))
            return
        jobs = chain(first, jobs)
    yield from imap_ordered(_draw, jobs, worker_count(), RENDERER_MODULES)
