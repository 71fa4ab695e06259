"""A backfill of two models through dagster-celery, by configuration only.

A real Redis (Debian's `redis-server`) on 127.0.0.1 is the broker and result store; two
`dagster-celery worker` processes, started with `deploy/celery.yaml`, run the steps. The code
location is loaded with `PERF_PIPELINE_EXECUTOR=celery` and the broker's address in the
environment, and the runs are launched as before: nothing in the assets changes. The tables
must be those of the in-process run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from lake_snapshots import assert_same_tables, snapshot
from local_servers import redis_server

from perf_pipeline.config import load_models
from perf_pipeline.definitions import PROJECT_ROOT, build_definitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import SAMPLE_START, day, write_sample

CELERY_CONFIG = PROJECT_ROOT / "deploy" / "celery.yaml"
END = day(2)
WORKER = Path(sys.executable).parent / "dagster-celery"
OUTPUTS = ("warehouse", "reports", "alerts")


def _run(paths: DataPaths, instance: dg.DagsterInstance) -> None:
    models = list(load_models(paths.models_file).values())
    outcomes = backfill(
        build_definitions(paths.root), instance, models, SAMPLE_START, END, "WARNING"
    )
    assert [o.model_id for o in outcomes] == ["card_fraud", "store_demand"]
    assert all(o.success for o in outcomes), [(o.model_id, o.failed_steps) for o in outcomes]


def _clear_outputs(paths: DataPaths) -> None:
    for name in OUTPUTS:
        shutil.rmtree(paths.root / name, ignore_errors=True)
    paths.views_db.unlink(missing_ok=True)


@contextmanager
def _workers(env: dict[str, str], logs: Path, count: int = 2) -> Iterator[None]:
    """`count` Celery workers, one process each, as a deployment starts them."""
    processes = []
    for n in range(count):
        args = [str(WORKER), "worker", "start", "-A", "dagster_celery.app"]
        args += ["-y", str(CELERY_CONFIG), "-n", f"worker{n}", "-l", "WARNING"]
        args += ["--", "--pool=solo", "--without-gossip", "--without-mingle"]
        with (logs / f"worker{n}.log").open("wb") as log:
            # A session of its own: the `celery` process it starts is stopped with it.
            processes.append(
                subprocess.Popen(
                    args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    try:
        _wait_until_answering(env["PERF_PIPELINE_CELERY_BROKER"], processes, logs)
        yield
    finally:
        _stop_workers(processes)


def _stop_workers(processes: list[subprocess.Popen]) -> None:
    """SIGTERM (Celery's warm shutdown), then SIGKILL for a worker still there after 15 s:
    the whole session of each, so no `celery` process outlives the test."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in processes:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + 15
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))


def _wait_until_answering(broker: str, processes: list[subprocess.Popen], logs: Path) -> None:
    """Both workers answer a ping before any run starts: a worker that cannot start fails the
    test with its log instead of leaving the run waiting for a step no one takes."""
    from celery import Celery

    app = Celery(broker=broker)
    deadline = time.monotonic() + 180
    while len(app.control.ping(timeout=1.0)) < len(processes):
        dead = [n for n, p in enumerate(processes) if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            log = (logs / f"worker{dead[0] if dead else 0}.log").read_text(errors="replace")
            pytest.fail(f"Celery workers not answering:\n{log[-3000:]}")


@pytest.mark.slow  # two backfills, one through two workers: about a minute and a half
def test_a_celery_backfill_of_two_models_writes_the_in_process_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_sample(tmp_path / "root", days=(END - SAMPLE_START).days + 1)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with redis_server(tmp_path / "redis") as redis_url:
        env = {
            # The worker command starts `celery` from PATH: this environment's.
            "PATH": f"{WORKER.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAGSTER_HOME": str(home),
            "PERF_PIPELINE_HOME": str(paths.root),
            "PERF_PIPELINE_EXECUTOR": "celery",
            "PERF_PIPELINE_CELERY_BROKER": f"{redis_url}/0",
            "PERF_PIPELINE_CELERY_BACKEND": f"{redis_url}/1",
        }
        with dg.DagsterInstance.get() as instance:
            _run(paths, instance)
            in_process = snapshot(paths)
            _clear_outputs(paths)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            with _workers({**os.environ, **env}, tmp_path):
                _run(paths, instance)
            runs = instance.get_runs(limit=2)
            _assert_steps_ran_on_workers(instance, [r.run_id for r in runs])
    assert_same_tables(in_process, snapshot(paths))


def _assert_steps_ran_on_workers(instance: dg.DagsterInstance, run_ids: list[str]) -> None:
    """Every step of the Celery runs was handed to Celery (its engine event says so)."""
    for run_id in run_ids:
        messages = [
            e.message or ""
            for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "ENGINE_EVENT"
        ]
        assert any("Submitted Celery task" in m or "celery" in m.lower() for m in messages), run_id
