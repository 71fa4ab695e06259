"""Which days judged a subject at all: what tells a clean day from a day with nothing to judge.

An incident resolves after clean days, and a day is clean only if the pipeline *could* have
raised the alert that day and did not. A missing alert alone proves nothing: a realized metric
is not judged before its day is final, a blocked day has no performance at all. So each alert
kind names the evidence that its subject was judged on a day, read from the lake:

- `performance`: the overall realized metric, defined, on at least `min_labelled_rows` labels,
  on a final day (or provisional, with `labels.alert_on_provisional`);
- `estimated_performance`: the overall estimated metric, defined, on enough rows;
- `drift`: the column's row (or `__dataset__`'s) with a verdict;
- `data_quality`: a row of the expectation;
- `freshness`: the day's `performance` landed;
- any other kind (a user's asset, the estimator's check): a day with an `alerts` partition.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import has_files, read_table_sql
from perf_pipeline.paths import DataPaths

Subject = tuple[str, str]  # (kind, metric_or_column)


@dataclass
class Evidence:
    """Judged days per (kind, subject), and the fallback days for kinds without evidence."""

    judged: dict[Subject, set[dt.date]] = field(default_factory=lambda: defaultdict(set))
    known_kinds: set[str] = field(default_factory=set)
    partition_days: set[dt.date] = field(default_factory=set)

    def judged_days(self, kind: str, subject: str) -> set[dt.date]:
        if kind in self.known_kinds:
            return self.judged.get((kind, subject), set())
        return self.partition_days


def _add(evidence: Evidence, kind: str, rows: list[tuple]) -> None:
    evidence.known_kinds.add(kind)
    for day, subject in rows:
        evidence.judged[(kind, str(subject))].add(day)


def _performance(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, since: dt.date
) -> list[tuple] | None:
    from perf_pipeline.performance_status import FINAL, PROVISIONAL, StatusSettings, with_status_sql

    if not has_files(paths, "performance", model.model_id):
        return None
    source = read_table_sql(paths, "performance", model.model_id)
    allowed = [FINAL, PROVISIONAL] if model.labels.alert_on_provisional else [FINAL]
    return con.execute(
        f"""SELECT DISTINCT date, metric, is_estimated
        FROM ({with_status_sql(source, [StatusSettings.of(model)])})
        WHERE segment_column = '__all__' AND value IS NOT NULL AND n >= ? AND date >= ?
          AND (is_estimated OR list_contains(?, status))""",
        [model.min_labelled_rows, since, allowed],
    ).fetchall()


def judged_evidence(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, since: dt.date
) -> Evidence:
    """Every day from `since` on that judged each subject of the model."""
    model_id = model.model_id
    evidence = Evidence()
    performance = _performance(con, paths, model, since) or []
    _add(evidence, "performance", [(d, m) for d, m, est in performance if not est])
    _add(evidence, "estimated_performance", [(d, m) for d, m, est in performance if est])
    drift = _filtered(con, paths, "drift", model_id, '"column"', "drifted IS NOT NULL", since)
    _add(evidence, "drift", drift)
    quality = _filtered(con, paths, "data_quality", model_id, "expectation", "true", since)
    _add(evidence, "data_quality", quality)
    landed = _filtered(con, paths, "performance", model_id, "'performance'", "true", since)
    _add(evidence, "freshness", landed)
    evidence.partition_days = alert_partition_days(paths, model_id, since)
    return evidence


def _filtered(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    table: str,
    model_id: str,
    subject_sql: str,
    condition: str,
    since: dt.date,
) -> list[tuple]:
    if not has_files(paths, table, model_id):
        return []
    return con.execute(
        f"SELECT DISTINCT date, {subject_sql} FROM {read_table_sql(paths, table, model_id)} "
        f"WHERE {condition} AND date >= ?",
        [since],
    ).fetchall()


def alert_partition_days(paths: DataPaths, model_id: str, since: dt.date) -> set[dt.date]:
    """Days with an `alerts` partition: some stage judged the model that day."""
    base = paths.partition_dir("alerts", model_id, None)
    days = set()
    for folder in base.glob("date=*") if base.exists() else []:
        try:
            day = dt.date.fromisoformat(folder.name.removeprefix("date="))
        except ValueError:
            continue
        if day >= since and any(folder.glob("*.parquet")):
            days.add(day)
    return days
