"""`perf-pipeline` commands as separate processes, and a reader polling the warehouse views.

The parallel-runs and restart tests drive the pipeline the way users and schedulers do: each
backfill its own process on one data root and one Dagster instance, while a reader queries
`warehouse.duckdb` as a user would.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

from perf_pipeline.paths import DataPaths

CLI = Path(sys.executable).parent / "perf-pipeline"


def start_backfill(
    paths: DataPaths,
    home: Path,
    start: dt.date,
    end: dt.date,
    model: str | None = None,
    log: Path | None = None,
    parallel: int | None = None,
) -> subprocess.Popen:
    """`perf-pipeline backfill` of the range (one model, or all) in its own process."""
    args = [str(CLI), "--home", str(paths.root), "backfill", "--start", str(start)]
    args += ["--end", str(end), *(["--model", model] if model else [])]
    args += ["--parallel", str(parallel)] if parallel else []
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    out = (log or paths.root.parent / f"backfill-{model or 'all'}-{start}.log").open("ab")
    with out:
        return subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_as_from_a_terminal
        )


def _as_from_a_terminal() -> None:
    """The command's Ctrl-C as a shell gives it: an ignored SIGINT is inherited across exec, and
    some libraries a test runs in this process (Celery's) leave it ignored, which would make the
    command deaf to the Ctrl-C the restart test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def prepare_home(home: Path) -> Path:
    """A Dagster home on SQLite, shared by every process of the test."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


class ViewsReader(threading.Thread):
    """Polls every view of `warehouse.duckdb` until stopped, as a user's client would: a fresh
    read-only connection per poll; records each failure and the slowest poll."""

    def __init__(self, paths: DataPaths, interval_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.paths, self.interval_s = paths, interval_s
        self.errors: list[str] = []
        self.polls = 0
        self.slowest_s = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.paths.views_db.exists():
                started = time.monotonic()
                try:
                    self._poll()
                    self.polls += 1
                except duckdb.Error as error:
                    self.errors.append(f"{type(error).__name__}: {error}")
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            self._stop_event.wait(self.interval_s)

    def _poll(self) -> None:
        path = self.paths.for_duckdb(self.paths.views_db)
        with duckdb.connect(path, read_only=True) as con:
            views = con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
            ).fetchall()
            for (view,) in views:
                con.execute(f'SELECT count(*) FROM "{view}"').fetchall()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)


def wait_all(processes: list[subprocess.Popen], timeout_s: float = 600) -> list[int]:
    deadline = time.monotonic() + timeout_s
    return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in processes]


def processes_using_home(home: Path) -> list[int]:
    """Pids of the live processes whose environment points `DAGSTER_HOME` at `home`: a
    backfill's own process and every worker it started (they inherit it)."""
    wanted = f"DAGSTER_HOME={home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted in environ and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_until_gone(home: Path, timeout_s: float = 30) -> list[int]:
    """The processes still using `home` after up to `timeout_s` (none, when all ended)."""
    deadline = time.monotonic() + timeout_s
    while (left := processes_using_home(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
