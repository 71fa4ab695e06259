"""Whether a `performance` row can be trusted yet: `estimated`, `provisional` or `final`.

A day's realized metrics move while its labels are still arriving. They become final when the
day's label coverage reaches the model's `labels.final_coverage`, or when its `label_delay_days`
have passed, whichever comes first; rows computed from scores alone are `estimated`.

The second condition depends on today's date: a day turns final when its delay runs out, without
any recompute. So the status is never stored; it is computed when the table is read, by the one
SQL expression here, shared by the `performance` view, the alerts stage and `perf-pipeline
status`, so the three can never disagree about a day.

- The delay has passed when the whole arrival day `date + label_delay_days` is over (UTC):
  `date + label_delay_days < today`. With `label_delay_days: 0` a day is final the day after.
- The coverage is the day's: the labelled share of all its predictions (the `__all__` realized
  rows' `label_coverage`), so a day's segment rows share its status.
- A model missing from the models file (removed, or the file missing or broken) is judged with
  the defaults (`final_coverage` 0.95, `label_delay_days` 14).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perf_pipeline.config.model import LabelSettings, ModelConfig
from perf_pipeline.sql import quote_literal

if TYPE_CHECKING:
    from perf_pipeline.paths import DataPaths

ESTIMATED = "estimated"
PROVISIONAL = "provisional"
FINAL = "final"

DEFAULT_FINAL_COVERAGE: float = LabelSettings().final_coverage
DEFAULT_LABEL_DELAY_DAYS: int = ModelConfig.model_fields["label_delay_days"].default
# Today's date in UTC whatever the reading session's time zone: day partitions are UTC days.
TODAY_UTC_SQL = "CAST(timezone('UTC', now()) AS DATE)"


@dataclass(frozen=True)
class StatusSettings:
    """The two settings a model's status depends on."""

    model_id: str
    final_coverage: float = DEFAULT_FINAL_COVERAGE
    label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS

    @classmethod
    def of(cls, model: ModelConfig) -> StatusSettings:
        return cls(model.model_id, model.labels.final_coverage, model.label_delay_days)


def status_settings(models: Iterable[ModelConfig]) -> list[StatusSettings]:
    return sorted((StatusSettings.of(m) for m in models), key=lambda s: s.model_id)


def settings_from_file(paths: DataPaths) -> list[StatusSettings]:
    """The settings of every model of the models file that validates; none when the file is
    missing or unreadable (every model then gets the defaults). Never raises: the views must
    stay readable while someone is editing the file."""
    from perf_pipeline.config import read_models_file

    try:
        models, _ = read_models_file(paths.models_file)
    except Exception:  # a half-written file must not take the views down with it
        return []
    return status_settings(models.values())


def status_sql(
    is_estimated: str, day_coverage: str, day: str, final_coverage: str, delay_days: str, today: str
) -> str:
    """The status of a row, from SQL expressions for each input (the one definition)."""
    return (
        f"CASE WHEN {is_estimated} THEN {quote_literal(ESTIMATED)} "
        f"WHEN coalesce({day_coverage}, 0) >= {final_coverage} "
        f"OR {day} + CAST({delay_days} AS INTEGER) < {today} THEN {quote_literal(FINAL)} "
        f"ELSE {quote_literal(PROVISIONAL)} END"
    )


def settings_values_sql(settings: Sequence[StatusSettings]) -> str:
    """`(model_id, final_coverage, label_delay_days)` rows as a relation (typed even when
    empty)."""
    rows = [
        f"({quote_literal(s.model_id)}, {float(s.final_coverage)!r}, {int(s.label_delay_days)})"
        for s in settings
    ]
    typed = "SELECT NULL::VARCHAR AS model_id, NULL::DOUBLE AS final_coverage, "
    typed += "NULL::INTEGER AS label_delay_days WHERE false"
    if not rows:
        return typed
    return f"{typed} UNION ALL SELECT * FROM (VALUES {', '.join(rows)})"


def with_status_sql(
    source: str, settings: Sequence[StatusSettings], today: dt.date | None = None
) -> str:
    """`SELECT *, status` over a FROM-clause expression of `performance` rows.

    `today` None reads the clock when the query runs (the views); a date pins it (a stage that
    judges a run's days once, and tests).
    """
    today_sql = TODAY_UTC_SQL if today is None else f"DATE {quote_literal(today.isoformat())}"
    day_coverage = (
        "max(label_coverage) FILTER (WHERE segment_column = '__all__' AND NOT is_estimated) "
        "OVER (PARTITION BY model_id, date)"
    )
    status = status_sql(
        "p.is_estimated",
        "p.__day_coverage",
        "p.date",
        f"coalesce(s.final_coverage, {DEFAULT_FINAL_COVERAGE!r})",
        f"coalesce(s.label_delay_days, {DEFAULT_LABEL_DELAY_DAYS})",
        today_sql,
    )
    return (
        f"SELECT p.* EXCLUDE (__day_coverage), {status} AS status "
        f"FROM (SELECT *, {day_coverage} AS __day_coverage FROM {source}) AS p "
        f"LEFT JOIN ({settings_values_sql(settings)}) AS s ON s.model_id = p.model_id"
    )
