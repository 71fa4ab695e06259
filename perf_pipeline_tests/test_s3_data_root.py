"""The data root on object storage: a real S3 server (moto in server mode, over HTTP on
127.0.0.1), the sample written to `s3://bucket/prefix`, a backfill of both models, and the same
backfill on a local root: the public tables must be the same rows.

The commit protocol is tested against the same server: a reader polling an object while it is
replaced always reads a whole Parquet file, and a write that fails midway leaves the previous
object as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from perf_pipeline import object_store
from perf_pipeline.cli import main as cli_main
from perf_pipeline.config import load_models
from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import _atomic_copy, connect, has_files, read_table_sql
from perf_pipeline.paths import DataPaths, resolve_data_root
from perf_pipeline.runner import backfill
from perf_pipeline.sample_data import SAMPLE_START, write_sample
from perf_pipeline.views import PUBLIC_TABLES, refresh_views

BUCKET = "monitoring"
PREFIX = "lake"
# Day 5 holds the sample's bad rows (quarantine), so every public table gets rows; two days
# keep the three backfills (S3, its re-run, local) to a few minutes.
FIRST, LAST = SAMPLE_START + dt.timedelta(days=5), SAMPLE_START + dt.timedelta(days=6)
COMPARED_TABLES = [*PUBLIC_TABLES, "ingest_log"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the S3 server exited with {server.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"the S3 server did not listen on 127.0.0.1:{port} in {timeout} s")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server (server mode, its own process: it does not share this process's
    interpreter with the pipeline) on 127.0.0.1, one bucket, and the AWS variables for it."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("s3_server") / "server.log").open("wb")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for_port(port, server)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.setenv("AWS_ENDPOINT_URL", endpoint)
            env.setenv("AWS_REGION", "us-east-1")
            env.setenv(object_store.STATE_ENV, str(tmp_path_factory.mktemp("s3_state")))
            import boto3

            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# When a row was written (wall clock), not what it says: differs between any two runs.
WALL_CLOCK_COLUMNS = ["first_seen_at", "last_seen_at", "resolved_at", "updated_at"]


def _normalized(frame: pd.DataFrame, root: str) -> pd.DataFrame:
    """Rows sorted, the data root's spelling replaced in text columns (file names differ), the
    wall-clock columns left out."""
    frame = frame.drop(columns=[c for c in WALL_CLOCK_COLUMNS if c in frame.columns])
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda v: v.replace(root, "<root>") if isinstance(v, str) else v
            )
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _snapshot(paths: DataPaths) -> dict[str, pd.DataFrame]:
    con = connect()
    tables = {}
    for table in COMPARED_TABLES:
        frame = con.execute(f"SELECT * FROM {read_table_sql(paths, table)}").df()
        tables[table] = _normalized(frame, str(paths.root))
    con.close()
    return tables


def _backfill(root: str | Path, home: Path) -> DataPaths:
    paths = DataPaths(resolve_data_root(root))
    models = list(load_models(paths.models_file).values())
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        outcomes = backfill(build_definitions(root), instance, models, FIRST, LAST, "WARNING")
    assert [o.success for o in outcomes] == [True] * len(models), outcomes
    return paths


def _bucket_keys() -> list[str]:
    return sorted(object_store.filesystem().find(f"{BUCKET}/{PREFIX}"))


@pytest.fixture(scope="module")
def runs(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same backfill on S3 (twice) and on a local root."""
    uri = f"s3://{BUCKET}/{PREFIX}"
    write_sample(resolve_data_root(uri))
    local_root = tmp_path_factory.mktemp("local_root")
    write_sample(local_root)
    seconds = {}
    started = time.perf_counter()
    s3_paths = _backfill(uri, tmp_path_factory.mktemp("home_s3"))
    seconds["s3"] = time.perf_counter() - started
    first, keys_after_first = _snapshot(s3_paths), _bucket_keys()
    started = time.perf_counter()
    _backfill(uri, tmp_path_factory.mktemp("home_s3_again"))
    seconds["s3_rerun"] = time.perf_counter() - started
    started = time.perf_counter()
    local_paths = _backfill(local_root, tmp_path_factory.mktemp("home_local"))
    seconds["local"] = time.perf_counter() - started
    print(f"backfill seconds: {seconds}")
    return {
        "s3": s3_paths,
        "first": first,
        "keys_after_first": keys_after_first,
        "second": _snapshot(s3_paths),
        "local": _snapshot(local_paths),
        "local_paths": local_paths,
    }


@pytest.mark.slow
def test_s3_backfill_writes_the_rows_a_local_backfill_writes(runs: dict) -> None:
    for table in COMPARED_TABLES:
        s3, local = runs["first"][table], runs["local"][table]
        assert len(s3) > 0 or table in ("alerts", "label_lag", "estimation_quality"), table
        pd.testing.assert_frame_equal(s3, local, check_dtype=False, obj=table)


@pytest.mark.slow
def test_s3_rerun_leaves_no_duplicates_and_no_stray_objects(runs: dict) -> None:
    for table in COMPARED_TABLES:
        pd.testing.assert_frame_equal(runs["second"][table], runs["first"][table], obj=table)
    keys = _bucket_keys()
    assert keys == runs["keys_after_first"]
    assert not [k for k in keys if k.endswith(".tmp") or "/." in k]
    reports = [k for k in keys if "/reports/" in k and k.endswith(".html")]
    for model in ("card_fraud", "store_demand"):
        for offset in range((LAST - FIRST).days + 1):
            page = f"{BUCKET}/{PREFIX}/reports/{model}/{FIRST + dt.timedelta(offset)}.html"
            assert page in reports
    page = object_store.filesystem().cat_file(reports[0]).decode("utf-8")
    assert "<html" in page.lower()


@pytest.mark.slow
def test_nothing_local_is_written_under_an_s3_root_name(runs: dict) -> None:
    """The state folder holds the views file and the ledgers; no `s3:` folder appears in the
    working directory (a URI mistaken for a local path would create one)."""
    paths: DataPaths = runs["s3"]
    assert paths.views_db.is_file()
    assert paths.views_db.is_relative_to(Path(os.environ[object_store.STATE_ENV]))
    assert not Path("s3:").exists()


@pytest.mark.slow
def test_views_answer_through_the_sql_command(
    runs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    paths: DataPaths = runs["s3"]
    refresh_views(paths)
    query = "SELECT model_id, count(*) AS n FROM predictions GROUP BY model_id ORDER BY model_id"
    assert cli_main(["--home", str(paths.root), "sql", query, "--csv"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    expected = runs["local"]["predictions"].groupby("model_id").size()
    assert printed == ["model_id,n", *(f"{m},{n}" for m, n in expected.items())]


@pytest.mark.slow
def test_views_file_opened_by_hand_with_the_documented_snippet(runs: dict) -> None:
    paths: DataPaths = runs["s3"]
    refresh_views(paths)
    con = duckdb.connect(str(paths.views_db), read_only=True)
    object_store.register_on(con)
    count = con.execute("SELECT count(*) FROM performance").fetchone()[0]
    assert count == len(runs["local"]["performance"])


def _object_paths(name: str) -> tuple[DataPaths, Path]:
    paths = DataPaths(resolve_data_root(f"s3://{BUCKET}/protocol"))
    return paths, paths.partition_dir("t", "m", SAMPLE_START) / name


def _write_rows(paths: DataPaths, target, rows: int) -> None:
    con = connect()
    _atomic_copy(con, paths, f"SELECT range AS i, {rows} AS total FROM range({rows})", target)
    con.close()


def _poll_through_duckdb(
    target, done: threading.Event, seen: list[int]
) -> tuple[list[int], int, list[str]]:
    """Read `target` through DuckDB (the pipeline's reader) until `done`: the row counts of
    whole reads (appended to `seen` as they come), how many reads s3fs refused because the
    object changed under them (its ETag check), and any other error."""
    con = connect()
    query = f"SELECT count(*), min(total), max(total) FROM read_parquet('{target}')"
    expired = 0
    errors: list[str] = []
    while not done.is_set():
        try:
            rows, low, high = con.execute(query).fetchone()
        except duckdb.Error as error:
            if "no longer exists" in str(error):  # s3fs FileExpired: retried, never mixed
                expired += 1
                continue
            errors.append(str(error))
            break
        if not rows == low == high:
            errors.append(f"a read mixed two versions: {rows} rows, totals {low}..{high}")
        seen.append(rows)
    con.close()
    return seen, expired, errors


def _wait_for_read(seen: list[int], count: int, reader: threading.Thread) -> None:
    deadline = time.monotonic() + 30
    while len(seen) < count and reader.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_reader_polling_an_object_while_it_is_replaced_reads_whole_files(
    s3_endpoint: str,
) -> None:
    paths, target = _object_paths("polled.parquet")
    sizes = [1_000, 300_000]
    _write_rows(paths, target, sizes[0])
    done = threading.Event()
    outcome: list[tuple[list[int], int, list[str]]] = []
    live: list[int] = []
    reader = threading.Thread(
        target=lambda: outcome.append(_poll_through_duckdb(target, done, live))
    )
    reader.start()
    try:
        for n in range(1, 9):
            _write_rows(paths, target, sizes[n % 2])
            # The reader keeps polling through the next write; waiting for one whole read
            # between writes keeps a loaded machine from starving it of any (every read then
            # overlapping a replace) without taking the overlap away.
            _wait_for_read(live, len(live) + 1, reader)
    finally:
        done.set()
        reader.join()
    seen, expired, errors = outcome[0]
    print(f"polling reader: {len(seen)} whole reads, {expired} refused mid-replace (retried)")
    assert not errors
    assert len(seen) >= 3 and set(seen) <= set(sizes), (seen, expired)
    assert not [k for k in object_store.filesystem().find(f"{BUCKET}/protocol") if ".tmp" in k]


def test_a_write_failing_midway_leaves_the_previous_object(s3_endpoint: str) -> None:
    paths, target = _object_paths("kept.parquet")
    _write_rows(paths, target, 500)
    con = connect()
    failing = "SELECT range AS i, CASE WHEN range = 400000 THEN error('disk gone') END AS x "
    with pytest.raises(duckdb.Error, match="disk gone"):
        _atomic_copy(con, paths, f"{failing} FROM range(1000000)", target)
    con.close()
    with object_store.filesystem().open(str(target), "rb") as handle:
        assert pq.read_table(handle).num_rows == 500
    keys = object_store.filesystem().find(f"{BUCKET}/protocol")
    assert [k for k in keys if k.endswith("kept.parquet") or "kept" in k] == [str(target)[5:]]


def test_a_failing_text_write_leaves_the_previous_object(s3_endpoint: str) -> None:
    _, target = _object_paths("note.txt")
    object_store.write_text(target, "first")
    with pytest.raises(TypeError):
        object_store.write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "first"


def test_a_local_root_keeps_its_layout(tmp_path: Path) -> None:
    paths = DataPaths(resolve_data_root(tmp_path))
    assert not paths.is_remote
    assert paths.state == tmp_path
    assert paths.views_db == tmp_path / "warehouse.duckdb"
    assert paths.alerts_log == tmp_path / "alerts" / "alerts.jsonl"
    target = paths.partition_dir("t", "m", SAMPLE_START) / "data.parquet"
    con = connect()
    _atomic_copy(con, paths, "SELECT 1 AS i", target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.parquet"]
    assert has_files(paths, "t", "m")


def test_the_state_folder_of_an_s3_root_is_local_and_keyed_by_the_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(object_store.STATE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    one = object_store.state_root(object_store.as_path("s3://a/one"))
    two = object_store.state_root(object_store.as_path("s3://a/two"))
    assert one.parent == two.parent == tmp_path / "perf_pipeline" / "state"
    assert one != two
    monkeypatch.setenv(object_store.STATE_ENV, str(tmp_path / "chosen"))
    assert object_store.state_root(object_store.as_path("s3://a/one")) == tmp_path / "chosen"
