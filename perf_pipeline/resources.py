"""The storage resource: the data root, and the one way every step opens DuckDB.

`PipelineStorage` is dagster-duckdb's `DuckDBResource`, so assets, sensors and a data engineer's
own assets all write `with storage.get_connection() as con:` and the connection is closed when
the block ends, whatever happens inside it. Two things differ from the stock resource, and why:

- The database is an in-memory one, never a file: the data lives in the Parquet lake and
  `warehouse.duckdb` holds views only, which every reader must be able to open while a run writes
  (a DuckDB file has a single writer). The views file is attached read-only instead, so
  `SELECT * FROM performance` works on every connection.
- The connection is closed even when the block raises (the stock `get_connection` closes it
  only on a normal exit), and an in-memory database needs none of its retries on file locks.
- Every connection carries the settings of `perf_pipeline.lake.connect`: the memory limit
  (`duckdb_memory_limit`, per run through resource config), the spill folder
  `<data root>/.duckdb_tmp` for work beyond it, and UTC, so day boundaries never depend on the
  host's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from perf_pipeline.object_store import register_on
from perf_pipeline.paths import DataPaths, resolve_data_root
from perf_pipeline.sql import quote_literal

IN_MEMORY = ":memory:"
SPILL_FOLDER = ".duckdb_tmp"
VIEWS_CATALOG = "warehouse"


class PipelineStorage(DuckDBResource):
    """The data root (landing zone, Parquet lake, views file, reports) and DuckDB's limits."""

    data_root: str = Field(
        description="The data root: landing/, warehouse/, reports/, alerts/ and models.yaml."
    )
    duckdb_memory_limit: str = Field(
        default="4GB",
        description="DuckDB's memory limit per connection; work beyond it spills to "
        "<data root>/.duckdb_tmp.",
    )
    database: str = Field(
        default=IN_MEMORY,
        description="Always ':memory:': the lake is Parquet and warehouse.duckdb holds views "
        "only, attached read-only on every connection.",
    )

    @property
    def paths(self) -> DataPaths:
        return DataPaths(resolve_data_root(self.data_root))

    @property
    def spill_folder(self) -> str:
        folder = self.paths.state / SPILL_FOLDER  # local even when the data root is on S3
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory connection under the memory limit, spilling to the data root, in UTC,
        with the public tables as views (when the views file exists); closed on exit."""
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """The connection `get_connection` yields, left to the caller to close: kept for code
        that predates `get_connection`; every asset and sensor uses `get_connection`."""
        settings = {
            "memory_limit": self.duckdb_memory_limit,
            "temp_directory": self.spill_folder,
            **self.connection_config,
        }
        con = duckdb.connect(self.database, config={"custom_user_agent": "dagster", **settings})
        try:
            register_on(con)  # `s3://` lake paths, when the data root is object storage
            # Not a connect-time option: it needs the ICU extension, which loads on first use.
            con.execute("SET TimeZone = 'UTC'")
            self._attach_views(con)
        except BaseException:
            con.close()
            raise
        return con

    def _attach_views(self, con: duckdb.DuckDBPyConnection) -> None:
        views = self.paths.views_db
        if not views.exists():
            return
        try:
            path = self.paths.for_duckdb(views)
            con.execute(f"ATTACH {quote_literal(path)} AS {VIEWS_CATALOG} (READ_ONLY)")
        except duckdb.Error as error:
            # A views file being replaced at this instant is rebuilt by the next refresh; the
            # lake itself is always readable, so the step goes on without the views.
            dg.get_dagster_logger().warning(f"views file {views} not attached: {error}")
            return
        con.execute(f"SET search_path = 'memory.main,{VIEWS_CATALOG}.main'")
