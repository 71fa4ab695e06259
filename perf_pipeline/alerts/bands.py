"""Statistical bands: where a metric normally lies on a day like the judged one.

A fixed `min` needs hand-tuning per model; a band learns it from the data. Two baselines:

- `reference`: the reference cut into `sampling_error.CHUNKS` random chunks as large as the
  judged day (its `n`: labelled rows for a realized metric, all rows for an estimate), each
  measured with the registry's own SQL (one pseudo-day per chunk, as `sampling_error` does for
  the estimates' intervals). Band = mean ± sigma·sd of the chunk values. The rows of a chunk are
  drawn without replacement, so sd is divided by √(1 - m/N) (the finite-population correction
  `sampling_error` uses). A day larger than `sampling_error.chunk_size(N)` (a quarter of the
  reference, at most 5,000 rows) gets chunks of that size and sd scaled by √(m/n), the 1/√n law
  the estimates' intervals rest on too: chunks of a whole reference would all be the reference.
  Chunk values are computed once per chunk size and run, so a backfill whose days are all larger
  than that size measures the reference once.
- `trailing`: the final, judgeable (defined, on at least `min_labelled_rows` labels) realized
  values of the metric on the `days` days before the judged day (with `same_weekday`, the same
  weekday of the `days` weeks before). Band = mean ± sigma·sd (ddof 1) over at least
  `MIN_TRAILING_DAYS` of them; fewer: no band. Only those days' `performance` files are read.

No band (too small a reference, too few trailing days) means the band judges nothing that day;
the other bounds of the threshold still do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.config.model import Band
from perf_pipeline.paths import DataPaths

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MIN_TRAILING_DAYS = 3
REFERENCE_SEED = 0


@dataclass(frozen=True)
class Bounds:
    """A band on one day: `center` ± `sigma`·`sd`, and where it came from (for the message)."""

    center: float
    sd: float
    sigma: float
    source: str

    @property
    def low(self) -> float:
        return self.center - self.sigma * self.sd

    @property
    def high(self) -> float:
        return self.center + self.sigma * self.sd

    def describe(self) -> str:
        return (
            f"band [{self.low:.4g}, {self.high:.4g}] = {self.center:.4g} ± {self.sigma:g}·"
            f"{self.sd:.3g} ({self.source})"
        )


# (metric, the day's n, the threshold's band) -> that day's band, or None when there is none.
BandLookup = Callable[[str, int, Band], Bounds | None]


def trailing_window(day: dt.date, band: Band) -> list[dt.date]:
    """The days a trailing band of `day` reads, most recent first."""
    step = 7 if band.same_weekday else 1
    return [day - dt.timedelta(days=step * k) for k in range(1, band.days + 1)]


def trailing_days_needed(model: ModelConfig, days: Iterable[dt.date]) -> set[dt.date]:
    """Every day a trailing band of the model reads for `days`."""
    bands = [t.band for t in model.thresholds.values() if t.band and t.band.baseline == "trailing"]
    return {d for day in days for band in bands for d in trailing_window(day, band)}


def trailing_bounds(
    model: ModelConfig, day: dt.date, metric: str, band: Band, history: pd.DataFrame
) -> Bounds | None:
    """The trailing band of `metric` on `day` from `history`, overall realized rows with
    their read-time `status` (the performance partitions of `trailing_days_needed`)."""
    import numpy as np

    from perf_pipeline.performance_status import FINAL

    window = set(trailing_window(day, band))
    rows = history[
        (history["metric"] == metric)
        & history["date"].isin(window)
        & (history["status"] == FINAL)
        & history["value"].notna()
        & (history["n"] >= model.min_labelled_rows)
    ]
    if len(rows) < MIN_TRAILING_DAYS:
        return None
    values = rows["value"].to_numpy(dtype=float)
    weekday = " same-weekday" if band.same_weekday else ""
    source = f"{len(values)} final{weekday} days of the last {band.days}"
    return Bounds(float(np.mean(values)), float(np.std(values, ddof=1)), band.sigma, source)


class ReferenceChunks:
    """The reference's metric values over chunks of a given size, measured on first use."""

    def __init__(self, con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig):
        self._con, self._paths, self._model = con, paths, model
        self._rows: pd.DataFrame | None = None
        self._values: dict[int, dict[str, np.ndarray]] = {}

    def bounds(self, metric: str, n: int, band: Band) -> Bounds | None:
        """The reference band of `metric` for a day of `n` rows (None without enough rows)."""
        import numpy as np

        from perf_pipeline.estimation.sampling_error import CHUNKS, MIN_ROWS, chunk_size

        rows = self._reference_rows()
        if len(rows) < MIN_ROWS or n < 1:
            return None
        size = min(n, chunk_size(len(rows)))
        values = self._chunk_values(size).get(metric)
        if values is None or len(values) < CHUNKS // 2:
            return None
        correction = np.sqrt(max(1.0 - size / len(rows), 1e-9))
        sd = float(np.std(values, ddof=1) / correction * np.sqrt(size / n))
        source = f"{len(values)} reference chunks of {size} rows"
        if size < n:
            source += f", sd scaled to {n} rows"
        return Bounds(float(np.mean(values)), sd, band.sigma, source)

    def _reference_rows(self) -> pd.DataFrame:
        """The labelled reference, in the stored reference's row order (DuckDB keeps a
        file's order), so the same reference always gives the same chunks and band."""
        import pandas as pd

        from perf_pipeline.lake import has_files, read_table_sql

        if self._rows is None:
            if not has_files(self._paths, "reference", self._model.model_id):
                self._rows = pd.DataFrame()
                return self._rows
            source = read_table_sql(self._paths, "reference", self._model.model_id)
            query = f"SELECT * FROM {source} WHERE label IS NOT NULL"
            self._rows = self._con.execute(query).df()
        return self._rows

    def _chunk_values(self, size: int) -> dict[str, np.ndarray]:
        """Each metric's defined overall values over the chunks of `size` rows."""
        from perf_pipeline.estimation.sampling_error import reference_chunks
        from perf_pipeline.metrics.performance import ALL, compute_performance

        if size in self._values:
            return self._values[size]
        frame = reference_chunks(self._reference_rows(), size, REFERENCE_SEED)
        plain = self._model.model_copy(update={"segments": [], "protected_attributes": []})
        name = "__band_reference_chunks"
        self._con.register(name, frame)
        try:
            result = compute_performance(self._con, plain, name)
        finally:
            self._con.unregister(name)
        realized = result[(result["segment_column"] == ALL) & ~result["is_estimated"]]
        self._values[size] = {
            str(metric): values.dropna().to_numpy(dtype=float)
            for metric, values in realized.groupby("metric")["value"]
        }
        return self._values[size]


class DayBands:
    """The bands of a run's days: the reference's chunks (measured on first use) and the
    overall realized rows of the trailing days (`performance`, read with their `status`)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        paths: DataPaths,
        model: ModelConfig,
        performance: pd.DataFrame | None,
    ):
        self._model = model
        self._reference = ReferenceChunks(con, paths, model)
        if performance is None:
            self._history = None
        else:
            flags = performance["is_estimated"].fillna(False).astype(bool)
            self._history = performance[(performance["segment_column"] == "__all__") & ~flags]

    def bounds(self, day: dt.date, metric: str, n: int, band: Band) -> Bounds | None:
        if band.baseline == "reference":
            return self._reference.bounds(metric, n, band)
        if self._history is None:
            return None
        return trailing_bounds(self._model, day, metric, band, self._history)

    def for_day(self, day: dt.date) -> BandLookup:
        return lambda metric, n, band: self.bounds(day, metric, n, band)
