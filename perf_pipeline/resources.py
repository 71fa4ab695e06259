"""Dagster resources: where the data root is, and how to reach the notifier."""

import dagster as dg

from perf_pipeline.paths import DataPaths, resolve_data_root


class PipelineStorage(dg.ConfigurableResource):
    """The data root (landing zone, Parquet lake, views file, reports) and DuckDB's limits."""

    data_root: str
    duckdb_memory_limit: str = "4GB"

    @property
    def paths(self) -> DataPaths:
        return DataPaths(resolve_data_root(self.data_root))
