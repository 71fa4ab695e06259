"""Each checked day's accepted rows validated by Great Expectations, in this process or in
warm worker processes.

In this process, Great Expectations is imported on a thread while DuckDB reads the reference and
the ingest log (which leave the other core free). When the command started the workers' server
as it began (`perf_pipeline.warm_workers`), the server has imported Great Expectations on the
other core by the time the gate runs: each day is read and validated by a worker forked from it,
the days of a backfill on every core, and this process never imports Great Expectations.

The outcomes are the same either way: a worker reads the day from the same lake files through
its own DuckDB connection, under the step connection's memory limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.day_frame import day_frame
from perf_pipeline.quality.suite import ExpectationSpec

if TYPE_CHECKING:
    from perf_pipeline.quality.gx_runner import ExpectationOutcome, SuiteRunner

DayOutcomes = tuple[dt.date, list["ExpectationOutcome"]]
# (paths, model, day, specs, memory limit): what a worker needs to validate one day.
ValidationJob = tuple[DataPaths, ModelConfig, dt.date, list[ExpectationSpec], str | None]

_worker_runner: SuiteRunner | None = None


def _validate(
    runner: SuiteRunner,
    con: duckdb.DuckDBPyConnection,
    job: ValidationJob,
) -> DayOutcomes:
    paths, model, day, specs, _ = job
    frame = day_frame(con, paths, model, day, specs)
    return day, [frame.decoded(o) for o in runner.validate(frame.frame, specs)]


def _validate_in_worker(job: ValidationJob) -> DayOutcomes:
    """One day in a worker; its Great Expectations context is made once per worker."""
    from perf_pipeline.lake import connect
    from perf_pipeline.quality.gx_runner import SuiteRunner

    global _worker_runner
    if _worker_runner is None:
        _worker_runner = SuiteRunner()
    with closing(connect(memory_limit=job[4])) as con:
        return _validate(_worker_runner, con, job)


def _memory_limit(con: duckdb.DuckDBPyConnection) -> str | None:
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


class DayValidator:
    """Validates days for one gate run; made by `day_validator`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, in_workers: bool) -> None:
        self._con, self._in_workers = con, in_workers
        self._threads: ThreadPoolExecutor | None = None
        self._runner: Future[SuiteRunner] | None = None
        if not in_workers:
            from perf_pipeline.quality.gx_runner import SuiteRunner

            self._threads = ThreadPoolExecutor(max_workers=1)
            self._runner = self._threads.submit(SuiteRunner)

    def outcomes(
        self,
        paths: DataPaths,
        model: ModelConfig,
        days: list[dt.date],
        specs: list[ExpectationSpec],
    ) -> Iterator[DayOutcomes]:
        """Each day's outcomes (their sample ids as ids), in day order."""
        from perf_pipeline.warm_workers import GATE_MODULES, imap_ordered, worker_count

        limit = _memory_limit(self._con) if self._in_workers else None
        jobs = ((paths, model, day, specs, limit) for day in days)
        if self._in_workers and days:
            workers = min(worker_count(), len(days))
            yield from imap_ordered(_validate_in_worker, jobs, workers, GATE_MODULES)
            return
        for job in jobs:
            yield _validate(self._runner.result(), self._con, job)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown()


@contextmanager
def day_validator(con: duckdb.DuckDBPyConnection) -> Iterator[DayValidator]:
    """A validator for this gate run; in-process, it starts importing Great Expectations now."""
    from perf_pipeline.warm_workers import is_warm, worker_count

    validator = DayValidator(con, in_workers=is_warm() and worker_count() > 1)
    try:
        yield validator
    finally:
        validator.close()
