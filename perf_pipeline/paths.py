"""Where everything lives under the data root (DESIGN §2, §3b).

One object so that the CLI, the Dagster resources and the tests agree on the layout, and moving
the whole data root is one setting (`PERF_PIPELINE_HOME`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from perf_pipeline.object_store import is_remote, remote_root, state_root

if TYPE_CHECKING:
    from upath import UPath

DATA_ROOT_ENV = "PERF_PIPELINE_HOME"
DEFAULT_DATA_ROOT = "data"
# Characters DuckDB's file readers treat as wildcards or list separators, even in a plain path.
_DUCKDB_SPECIAL = frozenset("*?[]{}\\,")
_DUCKDB_REFUSED = ("?", "\\")


class DataRootError(ValueError):
    """The data root cannot be used; the message names it and says why."""


def _has_duckdb_special(path: Path) -> bool:
    return any(c in _DUCKDB_SPECIAL for c in str(path))


def duckdb_alias(root: Path | UPath) -> Path | UPath:
    """A path to `root` that DuckDB reads literally.

    DuckDB expands `*`, `?` and `[...]` in every file path it reads, even in an explicit list of
    files, so a data root such as `/data/fraud*` would silently read its neighbours' files too.
    Such a root is reached through a symbolic link with a plain name in the user's cache folder
    (one per root, recreated whenever it is missing); any other root is used as it is.
    """
    if is_remote(root):
        return root  # read through the registered file system, which takes keys literally
    refused = [c for c in _DUCKDB_REFUSED if c in str(root)]
    if refused:
        # DuckDB resolves links for a database file, then reads `?` as the start of connection
        # options and `\` as a folder separator: `warehouse.duckdb` could never be opened there.
        raise DataRootError(
            f"data root {root}: DuckDB cannot open a database file whose path holds "
            f"{' or '.join(repr(c) for c in refused)}; choose a data root without them"
        )
    if not _has_duckdb_special(root):
        return root
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "perf_pipeline" / "roots"
    alias = folder / hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:20]
    if _has_duckdb_special(alias):
        raise DataRootError(
            f"data root {root} holds characters DuckDB reads as wildcards, and the cache folder "
            f"{folder} does too; set XDG_CACHE_HOME to a plain folder"
        )
    if not (alias.is_symlink() and os.readlink(alias) == str(root)):
        folder.mkdir(parents=True, exist_ok=True)
        staged = alias.with_name(f".{alias.name}.{uuid.uuid4().hex}")
        os.symlink(root, staged)
        os.replace(staged, alias)  # atomic: concurrent processes agree on one link
    return alias


def resolve_data_root(explicit: str | os.PathLike[str] | None = None) -> Path | UPath:
    """The data root: an explicit value, else `PERF_PIPELINE_HOME`, else `./data`.

    A local folder is a `Path`; an `s3://bucket/prefix` URI a `UPath` over the S3 file system
    (`perf_pipeline.object_store`), so the same path arithmetic, `exists`, `glob` and `open`
    work on both.
    """
    raw = explicit or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    if is_remote(raw):
        return remote_root(str(raw))
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class DataPaths:
    root: Path | UPath

    @property
    def is_remote(self) -> bool:
        """Whether the data root is object storage (`s3://`)."""
        return is_remote(self.root)

    @cached_property
    def state(self) -> Path:
        """The local folder for the views file, the alert ledgers and the default Dagster home:
        the data root itself when local, else a local folder (`object_store.state_root`)."""
        return state_root(self.root)

    @cached_property
    def duckdb_root(self) -> Path | UPath:
        """The data root as DuckDB must be given it (see `duckdb_alias`)."""
        return duckdb_alias(self.root)

    def for_duckdb(self, path: Path) -> str:
        """`path` (under the data root) spelled so that DuckDB reads it literally."""
        if self.duckdb_root == self.root:
            return str(path)
        return str(self.duckdb_root / path.relative_to(self.root))

    @property
    def models_file(self) -> Path:
        return self.root / "models.yaml"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def views_db(self) -> Path:
        return self.state / "warehouse.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def alerts_log(self) -> Path:
        return self.state / "alerts" / "alerts.jsonl"

    def landing_day(self, source: str, model_id: str, day: dt.date) -> Path:
        return self.landing / source / f"model={model_id}" / f"date={day.isoformat()}"

    def landing_reference(self, model_id: str) -> Path:
        return self.landing / "reference" / f"model={model_id}"

    def table_dir(self, table: str) -> Path:
        return self.warehouse / table

    def partition_dir(self, table: str, model_id: str, day: dt.date | None) -> Path:
        base = self.table_dir(table) / f"model={model_id}"
        return base if day is None else base / f"date={day.isoformat()}"

    def report_file(self, model_id: str, day: dt.date) -> Path:
        return self.reports / model_id / f"{day.isoformat()}.html"
