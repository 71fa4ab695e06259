"""The data-quality gate as a stage, and what a blocked day leaves downstream: nothing.

A day's outputs must reflect its current inputs. When the gate blocks a day, the day's
`performance`, `drift`, regression alerts and report from an earlier run are cleared here, in
the one step that knows the verdict, whether the run covers one day or a range. The downstream
steps then skip the day (in a daily run they are skipped the Dagster way, by the blocking check,
so the day shows as blocked in the UI, not as freshly materialized).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from perf_pipeline.config import ModelConfig
from perf_pipeline.paths import DataPaths

# The alerts file written by the regression evaluation (`perf_pipeline.alerts.evaluate`).
REGRESSIONS_WRITER = "regressions"


def run_gate(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> dict:
    """Judge each day; write its `data_quality` rows and alerts; clear blocked days downstream.

    Returns the verdict of each day.
    """
    from perf_pipeline.alerts.records import write_alerts
    from perf_pipeline.quality.gate import assess_days, quality_alerts, write_quality_rows
    from perf_pipeline.views import refresh_views

    verdicts = assess_days(con, paths, model, days)
    write_quality_rows(con, paths, model, verdicts)
    write_alerts(con, paths, model.model_id, days, quality_alerts(model, verdicts), "data_quality")
    clear_downstream(con, paths, model, sorted(d for d, v in verdicts.items() if v.blocked))
    refresh_views(paths)
    return verdicts


def clear_downstream(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> None:
    """Empty `performance`, `drift`, `estimation_quality` and `review_sample` partitions, no
    regression or estimator alerts, no report and no review file for `days` (the data-quality
    step then writes the blocked day's page at the report's path).

    Empty files, not missing ones: the lake's writers replace a day by rewriting its file, and an
    empty file is how a re-run says "this day has nothing now".
    """
    if not days:
        return
    import pandas as pd

    from perf_pipeline.alerts.estimator_quality import WRITER as ESTIMATOR_WRITER
    from perf_pipeline.alerts.records import write_alerts
    from perf_pipeline.review import sample as review_sample
    from perf_pipeline.schemas import DRIFT, PERFORMANCE
    from perf_pipeline.tables import drift as drift_table
    from perf_pipeline.tables import estimation_quality
    from perf_pipeline.tables import performance as performance_table

    performance_table.write_days(con, paths, model, days, pd.DataFrame(columns=list(PERFORMANCE)))
    drift_table.write_days(con, paths, model, days, pd.DataFrame(columns=list(DRIFT)))
    write_alerts(con, paths, model.model_id, days, [], REGRESSIONS_WRITER)
    # With performance emptied, the estimator's rows of these days are empty too.
    estimation_quality.write_days(con, paths, model, days)
    write_alerts(con, paths, model.model_id, days, [], ESTIMATOR_WRITER)
    review_sample.clear_days(con, paths, model, days)
    for day in days:
        paths.report_file(model.model_id, day).unlink(missing_ok=True)


def usable_days(
    con: duckdb.DuckDBPyConnection, paths: DataPaths, model: ModelConfig, days: list[dt.date]
) -> tuple[list[dt.date], set[dt.date]]:
    """The days the gate let through, and the blocked ones (read back from `data_quality`)."""
    from perf_pipeline.quality.gate import blocked_days

    blocked = blocked_days(con, paths, model.model_id, days)
    return [d for d in days if d not in blocked], blocked
