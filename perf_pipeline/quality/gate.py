"""The data-quality gate: every check of a day, as rows of `data_quality`, and the verdict.

A day is blocked when any error-severity check fails; warnings are recorded and never block.
The verdict is stored with the rows, so the downstream stages of a multi-day backfill skip
exactly the blocked days and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.alerts.records import Alert
from perf_pipeline.alerts.severity import CRITICAL
from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import (
    day_files,
    has_files,
    read_files_sql,
    read_table_sql,
    write_frame_partitions,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.quality.suite import (
    ERROR,
    GATE_EXPECTATIONS,
    ReferenceStats,
    build_suite,
    effective_severity,
)
from perf_pipeline.schemas import DATA_QUALITY
from perf_pipeline.sql import quote_identifier as q

if TYPE_CHECKING:
    from perf_pipeline.quality.gx_runner import ExpectationOutcome

# The gate's file in each `data_quality` partition (the labels checks write their own).
GATE_FILE = "predictions.parquet"


@dataclass
class DayVerdict:
    day: dt.date
    rows: list[dict]

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.rows if not r["success"] and r["severity"] == ERROR]

    @property
    def blocked(self) -> bool:
        return bool(self.failures)


def reference_stats(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig
) -> ReferenceStats | None:
    """Null rates, numeric ranges and categories of the stored reference, in one scan for the
    rates and ranges (a million-row reference is read once, not once per statistic)."""
    if not has_files(paths, "reference", model.model_id):
        return None
    source = read_table_sql(paths, "reference", model.model_id)
    con.execute(f"CREATE OR REPLACE TEMP VIEW reference_rows AS SELECT * FROM {source}")
    present = {r[0] for r in con.execute("DESCRIBE reference_rows").fetchall()}
    nulls = [c for c in model.input_columns if c in present]
    ranges = [c for c in model.features.numerical if c in present]
    aggregates = ["count(*)"]
    aggregates += [f"avg(CASE WHEN {q(c)} IS NULL THEN 1.0 ELSE 0.0 END)" for c in nulls]
    aggregates += [f"min({q(c)}), max({q(c)})" for c in ranges]
    values = con.execute(f"SELECT {', '.join(aggregates)} FROM reference_rows").fetchone()
    stats = ReferenceStats(rows=values[0])
    if stats.rows:
        stats.null_rate.update(zip(nulls, values[1 : 1 + len(nulls)], strict=True))
    bounds = values[1 + len(nulls) :]
    for i, col in enumerate(ranges):
        low, high = bounds[2 * i], bounds[2 * i + 1]
        if low is not None:
            stats.minimum[col], stats.maximum[col] = float(low), float(high)
    for col in model.features.categorical:
        if col in present:
            rows = con.execute(
                f"SELECT DISTINCT CAST({q(col)} AS VARCHAR) FROM reference_rows "
                f"WHERE {q(col)} IS NOT NULL ORDER BY 1"
            ).fetchall()
            stats.categories[col] = [v[0] for v in rows]
    return stats


def _gate_row(
    model: ModelConfig,
    day: dt.date,
    name: str,
    success: bool,
    observed: str | None,
    unexpected: int | None,
) -> dict | None:
    """A row for one of the gate's own checks, or None when the models file turned it off."""
    default = next(severity for n, severity, _ in GATE_EXPECTATIONS if n == name)
    severity = effective_severity(model, name, default)
    if severity is None:
        return None
    return _row(model, day, name, None, success, observed, unexpected, severity)


def _row(
    model: ModelConfig,
    day: dt.date,
    expectation: str,
    column: str | None,
    success: bool,
    observed: str | None,
    unexpected: int | None,
    severity: str,
    samples: list | None = None,
) -> dict:
    return {
        "model_id": model.model_id,
        "date": day,
        "expectation": expectation,
        "column": column,
        "success": success,
        "observed_value": observed,
        "unexpected_count": unexpected,
        "severity": severity,
        "sample_values": json.dumps(samples or [], default=str),
    }


def _ingest_log(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, dict]:
    lookback = model.quality.volume_window_days
    window = [days[0] - dt.timedelta(days=i) for i in range(lookback, 0, -1)] + days
    files = day_files(paths, "ingest_log", model.model_id, window)
    if not files:
        return {}
    rows = con.execute(f"SELECT * FROM {read_files_sql(files)} WHERE source = 'predictions'")
    names = [d[0] for d in rows.description]
    return {
        record["date"]: record
        for record in (dict(zip(names, r, strict=True)) for r in rows.fetchall())
    }


def _volume_row(model: ModelConfig, day: dt.date, log: dict[dt.date, dict]) -> dict | None:
    lookback = model.quality.volume_window_days
    history = [
        log[d]["accepted"]
        for d in (day - dt.timedelta(days=i) for i in range(1, lookback + 1))
        if d in log and log[d]["accepted"] > 0
    ]
    if len(history) < 3 or day not in log:
        return None  # too little history for a band that means anything
    median = statistics.median(history)
    tolerance = model.quality.volume_tolerance
    low, high = median * (1 - tolerance), median * (1 + tolerance)
    accepted = log[day]["accepted"]
    observed = json.dumps({"rows": accepted, "band": [low, high]})
    return _gate_row(
        model, day, "row_count_within_trailing_band", low <= accepted <= high, observed, None
    )


def _ingest_rows(model: ModelConfig, day: dt.date, entry: dict | None) -> list[dict | None]:
    """The gate's own checks of a day, from what the ingest recorded."""
    error = entry["error"] if entry else "the predictions of this day were never ingested"
    rows = [_gate_row(model, day, "files_readable", error is None, error, None)]
    if error is None:
        read, accepted, quarantined = entry["rows_read"], entry["accepted"], entry["quarantined"]
        counts = json.dumps({"read": read, "accepted": accepted, "quarantined": quarantined})
        unaccounted = read - accepted - quarantined
        rows.append(
            _gate_row(model, day, "rows_accounted_for", unaccounted == 0, counts, unaccounted)
        )
        share = quarantined / read if read else 0.0
        within = share <= model.quality.quarantine_share_max
        rows.append(_gate_row(model, day, "quarantine_share", within, f"{share:.4%}", quarantined))
    return rows


def assess_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict[dt.date, DayVerdict]:
    """Judge each day from the ingest log and the accepted rows, with Great Expectations
    (in this process or in warm workers: `day_validation.py`)."""
    from perf_pipeline.quality.day_validation import day_validator

    with day_validator(con) as validator:
        specs = build_suite(model, reference_stats(con, paths, model))
        log = _ingest_log(con, paths, model, days)
        readable = [day for day in days if log.get(day) and log[day]["error"] is None]
        validated = dict(validator.outcomes(paths, model, readable, specs))
    verdicts: dict[dt.date, DayVerdict] = {}
    for day in days:
        rows = _ingest_rows(model, day, log.get(day))
        if day in validated:
            rows.append(_volume_row(model, day, log))
            rows += [_outcome_row(model, day, outcome) for outcome in validated[day]]
        verdicts[day] = DayVerdict(day, [r for r in rows if r is not None])
    return verdicts


def _outcome_row(model: ModelConfig, day: dt.date, outcome: ExpectationOutcome) -> dict:
    spec = outcome.spec
    return _row(
        model,
        day,
        spec.name,
        spec.column,
        outcome.success,
        outcome.observed_value,
        outcome.unexpected_count,
        spec.severity,
        outcome.sample_values,
    )


def quality_alerts(model: ModelConfig, verdicts: dict[dt.date, DayVerdict]) -> list[Alert]:
    alerts = []
    for verdict in verdicts.values():
        for failure in verdict.failures:
            subject = failure["expectation"]
            alerts.append(
                Alert(
                    model_id=model.model_id,
                    date=verdict.day,
                    kind="data_quality",
                    metric_or_column=subject,
                    value=float(failure["unexpected_count"])
                    if failure["unexpected_count"] is not None
                    else None,
                    baseline=None,
                    threshold=None,
                    severity=CRITICAL,
                    message=f"{model.model_id} {verdict.day}: {subject} failed"
                    + (f" ({failure['observed_value']})" if failure["observed_value"] else ""),
                )
            )
    return alerts


def blocked_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model_id: str, days: list[dt.date]
) -> set[dt.date]:
    """Days the gate blocked, read back from `data_quality` (written by the gate step)."""
    files = day_files(paths, "data_quality", model_id, days, GATE_FILE)
    if not files:
        return set(days)
    rows = con.execute(
        f"SELECT DISTINCT date FROM {read_files_sql(files)} "
        f"WHERE severity = '{ERROR}' AND NOT success"
    ).fetchall()
    assessed = {
        r[0] for r in con.execute(f"SELECT DISTINCT date FROM {read_files_sql(files)}").fetchall()
    }
    return {r[0] for r in rows} | (set(days) - assessed)


def write_quality_rows(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    model: ModelConfig,
    verdicts: dict[dt.date, DayVerdict],
) -> dict[dt.date, int]:
    import pandas as pd

    frame = pd.DataFrame(
        [row for v in verdicts.values() for row in v.rows], columns=list(DATA_QUALITY)
    )
    return write_frame_partitions(
        con, paths, "data_quality", model.model_id, frame, DATA_QUALITY, list(verdicts), GATE_FILE
    )
