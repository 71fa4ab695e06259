"""Where everything lives under the data root (DESIGN §2, §3b).

One object so that the CLI, the Dagster resources and the tests agree on the layout, and moving
the whole data root is one setting (`PERF_PIPELINE_HOME`).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

DATA_ROOT_ENV = "PERF_PIPELINE_HOME"
DEFAULT_DATA_ROOT = "data"


def resolve_data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root: an explicit value, else `PERF_PIPELINE_HOME`, else `./data`."""
    raw = explicit or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class DataPaths:
    root: Path

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
        return self.root / "warehouse.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def alerts_log(self) -> Path:
        return self.root / "alerts" / "alerts.jsonl"

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
