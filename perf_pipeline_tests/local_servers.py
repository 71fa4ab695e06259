"""Real PostgreSQL and Redis servers for tests, on 127.0.0.1, in a temporary folder.

Both come from Debian's packages (`postgresql`, `redis-server`; `.ci/run` installs them). The
servers listen on a free loopback port, keep their files under the test's temporary folder and
are stopped when the context exits. PostgreSQL refuses to run as root, so as root its files
belong to, and its programs run as, the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_USER = "dagster"
POSTGRES_DB = "dagster"
POSTGRES_PASSWORD = "dagster"


def free_port() -> int:
    """A TCP port nothing listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _as_server_user(args: list[str]) -> list[str]:
    """As root, run as `postgres` (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _wait_for_port(port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db: str

    @property
    def env(self) -> dict[str, str]:
        """What `deploy/dagster.yaml` reads its connection from."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


def _init_cluster(bin_dir: Path, data: Path, tmp: Path) -> None:
    password_file = tmp / "pg_password"
    password_file.write_text(POSTGRES_PASSWORD, encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(password_file, "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_USER, "-A", "md5"]
    initdb += ["--pwfile", str(password_file), "-E", "UTF8", "--no-sync"]
    subprocess.run(_as_server_user(initdb), check=True, capture_output=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on 127.0.0.1 with a `dagster` database, in its own temporary
    folder (pytest's are private to root, where the `postgres` user cannot reach); skipped when
    the package is not installed (`.ci/run` installs it)."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with (
        tempfile.TemporaryDirectory(prefix="perf-pipeline-pg-") as folder,
        _running_cluster(bin_dir, Path(folder)) as server,
    ):
        yield server


@contextmanager
def _running_cluster(bin_dir: Path, tmp: Path) -> Iterator[PostgresServer]:
    data, port = tmp / "pgdata", free_port()
    _init_cluster(bin_dir, data, tmp)
    options = f"-h 127.0.0.1 -p {port} -k {tmp} -F"  # -F: no fsync, a throwaway cluster
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "pg.log"), "-w"]
    subprocess.run(_as_server_user([*pg_ctl, "-o", options, "start"]), check=True)
    try:
        env = {**os.environ, "PGPASSWORD": POSTGRES_PASSWORD}
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
        subprocess.run([*createdb, "-U", POSTGRES_USER, POSTGRES_DB], check=True, env=env)
        yield PostgresServer("127.0.0.1", port, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)
    finally:
        subprocess.run(_as_server_user([*pg_ctl, "-m", "immediate", "stop"]), check=False)


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A Redis server on 127.0.0.1 (no persistence); yields its URL. Skipped when the package
    is not installed (`.ci/run` installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("Redis is not installed (apt-get install redis-server)")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp)]
    args += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    with (tmp / "redis.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, 15, process)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
