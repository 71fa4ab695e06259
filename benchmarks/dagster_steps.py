"""Where a run's time went, from the Dagster event log of the instance it ran on."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def stage_seconds(home: Path, since: float = 0.0) -> dict[str, float]:
    """Step seconds per stage (the step key's last part: `ingest`, `report`, ...), summed over
    the runs of the instance at `home` that started after `since` (epoch seconds)."""
    import dagster as dg

    totals: dict[str, float] = defaultdict(float)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records():
            # An in-process run has no launch time: its record's creation is when it began.
            if record.create_timestamp.timestamp() < since:
                continue
            for step in instance.get_run_step_stats(record.dagster_run.run_id):
                if step.start_time and step.end_time:
                    stage = step.step_key.rsplit("__", 1)[-1]
                    totals[stage] += step.end_time - step.start_time
    return dict(totals)


# Stages that are for people to look at, drawn after every table of their run.
LOOK_STAGES = ("report", "dashboard")


def milestones(home: Path, since: float = 0.0) -> dict[str, float]:
    """Seconds from the first step of the runs (started after `since`) until every table and
    alert was written (`tables_and_alerts`: the last step that is not a report or a dashboard),
    and until the last step of all (`everything`), over all those runs together (models run
    side by side share the clock)."""
    import dagster as dg

    starts, table_ends, ends = [], [], []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records():
            # The models' daily runs only (not the notifier's run that follows them).
            if record.create_timestamp.timestamp() < since or not _is_daily(record):
                continue
            for step in instance.get_run_step_stats(record.dagster_run.run_id):
                if not (step.start_time and step.end_time):
                    continue
                starts.append(step.start_time)
                ends.append(step.end_time)
                stage = step.step_key.rsplit("__", 1)[-1]
                if stage not in LOOK_STAGES and not stage.startswith("freshness_check"):
                    table_ends.append(step.end_time)
    if not starts:
        return {}
    first = min(starts)
    return {"tables_and_alerts": max(table_ends) - first, "everything": max(ends) - first}


def _is_daily(record) -> bool:
    return record.dagster_run.job_name.endswith("__daily")
