"""Object storage for the data root (`s3://bucket/prefix`): which file system, and how a file is
committed there.

The data root may be a local folder or an S3 URI (any S3-compatible server). DuckDB's own
`httpfs` extension is not used (it is downloaded at run time, which many deployments forbid);
DuckDB reads through the same fsspec file system (`s3fs`) that Python uses, registered on every
connection (`register_on`), so `read_parquet('s3://...')`, globs included, works unchanged.

Endpoint and credentials come from the standard AWS variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL` for S3-compatible servers,
`AWS_REGION`), read when the file system is first made; one file system per process and
setting (fsspec caches it), with directory listings never cached, because other processes
write the same prefixes and a cached listing would hide their files.

Commit protocol (`staging_path` + `commit`). On a local disk a file is written to a temporary
name beside the target and renamed over it. S3 has no rename (a copy and a delete, not atomic),
but a PUT of one object is atomic and strongly consistent: a reader sees the whole old object
or the whole new one, never a part. So on S3 a file is written (by DuckDB's COPY, pickle, ...) to
a local temporary file, and committed by ONE PUT of the final key; a failed write never PUTs, so
the previous object stays. No temporary object ever exists in the bucket, so nothing under the
lake's globs is ever half written or foreign. A partition of several files (one per writer) is
committed file by file, as on a local disk: a crash between two files leaves each file whole,
either the new one or the previous one, and the re-run of the day rewrites them all.

What cannot live on S3 stays on a local disk, in the state folder (`state_root`): the views file
`warehouse.duckdb` (a DuckDB database is a random-access file with a lock), the alert ledgers
(`alerts/*.jsonl`, appended to under file locks) and the default Dagster home. It is
`PERF_PIPELINE_STATE` when set, else `~/.cache/perf_pipeline/state/<hash of the URI>`
(`XDG_CACHE_HOME` honoured); for a local data root it is the data root itself, as before.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import fsspec
    from upath import UPath

REMOTE_SCHEMES = ("s3://",)
STATE_ENV = "PERF_PIPELINE_STATE"
_AWS_SETTINGS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")
# Set once a remote root is used in this process: from then on every DuckDB connection gets the
# file system, so a reader never depends on which module opened it.
_remote_in_use = False


def is_remote(root: str | os.PathLike[str]) -> bool:
    """Whether a data root names object storage rather than a local folder."""
    return str(root).startswith(REMOTE_SCHEMES)


def storage_options() -> dict[str, Any]:
    """The s3fs settings from the AWS environment (credentials are read by botocore itself)."""
    options: dict[str, Any] = {"use_listings_cache": False}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options


def filesystem() -> fsspec.AbstractFileSystem:
    """The S3 file system for the current AWS settings (fsspec returns the same instance for
    the same settings, so this is one file system per process and setting)."""
    import fsspec

    return fsspec.filesystem("s3", **storage_options())


def remote_root(uri: str) -> UPath:
    """A remote data root as a path object: `/`, `exists`, `glob`, `open` work as on a `Path`."""
    global _remote_in_use
    from upath import UPath

    _remote_in_use = True
    return UPath(uri.rstrip("/"), **storage_options())


def as_path(text: str) -> Path | UPath:
    """A path given as text (a setting): a `UPath` for an `s3://` URI, else a `Path`."""
    return remote_root(text) if is_remote(text) else Path(text)


def register_on(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Let DuckDB read `s3://` paths through the file system, once a remote root is in use (a
    process with local roots only never imports s3fs)."""
    if _remote_in_use or is_remote(os.environ.get("PERF_PIPELINE_HOME", "")):
        con.register_filesystem(filesystem())
    return con


def state_root(root: Path | UPath) -> Path:
    """The local folder for what cannot live on object storage (see the module's docstring)."""
    if not is_remote(root):
        return Path(root)
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:20]
    return cache / "perf_pipeline" / "state" / digest


def staging_path(target: Path | UPath) -> Path:
    """A local file to write `target`'s new content to before `commit`.

    Local: a hidden name beside the target (same file system, so the rename is atomic). Remote:
    a file in the local temporary folder, so no temporary object ever appears in the bucket.
    """
    if not is_remote(target):
        return Path(target).with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    folder = Path(tempfile.gettempdir()) / "perf_pipeline_staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.{target.name}"


def commit(staged: Path, target: Path | UPath) -> None:
    """Make `staged` the content of `target` at once: a rename on a local disk, one PUT on S3
    (atomic per object: readers see the old object or the new one). The staged file is gone
    afterwards either way."""
    if not is_remote(target):
        os.replace(staged, target)
        return
    try:
        filesystem().put_file(str(staged), str(target))
    finally:
        staged.unlink(missing_ok=True)


def write_bytes(target: Path | UPath, data: bytes) -> None:
    """Write a whole file atomically (`staging_path` then `commit`)."""
    if not is_remote(target):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(target)
    try:
        staged.write_bytes(data)
        commit(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def write_text(target: Path | UPath, text: str) -> None:
    """`write_bytes` of UTF-8 text."""
    write_bytes(target, text.encode("utf-8"))


def upload_folder(local: Path, target: UPath) -> int:
    """Copy every file under a local folder to the same relative keys under `target`, each by
    one PUT (so each object appears whole); the number of files."""
    fs = filesystem()
    files = sorted(p for p in local.rglob("*") if p.is_file())
    for file in files:
        fs.put_file(str(file), str(target / file.relative_to(local).as_posix()))
    return len(files)


def readable(path: Path | UPath) -> Path | Any:
    """What pyarrow's readers take for `path`: the local path itself, or, on object storage,
    the whole object fetched by one GET (a consistent version even if it is replaced meanwhile,
    where ranged reads of a replaced object fail)."""
    if not is_remote(path):
        return path
    import pyarrow as pa

    return pa.BufferReader(filesystem().cat_file(str(path)))
