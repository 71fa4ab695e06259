"""Dagster resources: where the data root is, and how to reach the notifier."""

import dagster as dg
import duckdb

from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths, resolve_data_root


class PipelineStorage(dg.ConfigurableResource):
    """The data root (landing zone, Parquet lake, views file, reports) and DuckDB's limits."""

    data_root: str
    duckdb_memory_limit: str = "4GB"

    @property
    def paths(self) -> DataPaths:
        return DataPaths(resolve_data_root(self.data_root))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A connection held to `duckdb_memory_limit`: sorts and hash tables beyond it spill to
        `<data root>/.duckdb_tmp` rather than fail or grow past the limit."""
        spill = self.paths.root / ".duckdb_tmp"
        spill.mkdir(parents=True, exist_ok=True)
        return connect(self.duckdb_memory_limit, temp_directory=str(spill))
