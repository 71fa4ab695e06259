"""Model performance per (date, segment): a registry of SQL aggregates and one DuckDB pass over it.

A metric is a single `Metric` entry in `METRICS`: the aggregate that computes it, its direction and,
for proportions, the aggregate of its denominator (which drives the Wilson interval). The query
that groups by (date, segment), unpivots the results into the `performance` table shape
(DESIGN §3) and applies the NULL rules is generated from the registry, so adding a metric never
touches the query.

Metric SQL sees one row per prediction, already normalized per task:

- binary_classification: `y` BOOLEAN (the label is the positive class), `yhat` BOOLEAN (the
  prediction is the positive class: `score >= decision_threshold`, or the logged class when the
  score is NULL) and `p` DOUBLE (the score, possibly NULL).
- regression: `y` DOUBLE (label) and `yhat` DOUBLE (prediction).

`Metric.sql` runs over the labelled rows of a group, `Metric.estimate_sql` over all its rows;
score-based aggregates (roc_auc, log_loss, the estimates) skip rows whose score is NULL.
Aggregates return NULL when the metric is undefined for the group (NULLIF on denominators), which
is how "NULL with n recorded, never a fake 0" (DESIGN §3) is enforced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.sql import quote_identifier, quote_literal

__all__ = [
    "ALL",
    "COLUMNS",
    "METRICS",
    "NULL_SEGMENT",
    "Metric",
    "compute_performance",
    "metric_direction",
    "performance_sql",
]

ALL = "__all__"
NULL_SEGMENT = "__null__"
COLUMNS = [
    "model_id",
    "date",
    "segment_column",
    "segment_value",
    "metric",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "label_coverage",
    "is_estimated",
]

# Two-sided 95 % normal quantile, as statsmodels' proportion_confint uses (norm.isf(0.025)).
_Z95 = 1.959963984540054
# sklearn's log_loss clips probabilities to [eps, 1 - eps] with eps of float64.
_EPS = float(np.finfo(np.float64).eps)
_CLIP = f"CAST({_EPS!r} AS DOUBLE)"
# Window functions in `Metric.row_sql` partition by this.
_GROUP = "date, segment_column, segment_value"


@dataclass(frozen=True)
class Metric:
    """One performance metric, defined once.

    `n_sql` is the aggregate of a proportion's own denominator (precision's is the predicted
    positives), which the Wilson interval needs; `estimate_sql`/`estimate_n_sql` give the
    confidence-based estimate from scores alone, for days whose labels have not arrived.
    `row_sql` holds per-row helper columns the aggregate needs (window functions allowed, with
    `{group}` standing for the group's partition columns), so rank-based metrics stay one entry.
    """

    name: str
    task: Task
    sql: str
    higher_is_better: bool
    kind: Literal["proportion", "other"] = "other"
    n_sql: str | None = None
    estimate_sql: str | None = None
    estimate_n_sql: str | None = None
    row_sql: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "proportion" and self.n_sql is None:
            raise ValueError(f"proportion metric {self.name!r} needs n_sql")
        if self.kind == "proportion" and self.estimate_sql and self.estimate_n_sql is None:
            raise ValueError(f"proportion metric {self.name!r} needs estimate_n_sql")


_B = Task.BINARY_CLASSIFICATION
_R = Task.REGRESSION

# Expected positives among the predicted positives, assuming calibrated scores.
_EXPECTED_TP = "coalesce(sum(p) FILTER (WHERE yhat), 0)"
_SCORED_PREDICTED_POS = "count(p) FILTER (WHERE yhat)"
# Labelled positives and negatives that carry a score: the two samples AUC compares.
_P = "CAST(count_if(y AND p IS NOT NULL) AS DOUBLE)"
_N = "CAST(count_if(NOT y AND p IS NOT NULL) AS DOUBLE)"

METRICS: dict[Task, tuple[Metric, ...]] = {
    _B: (
        Metric(
            "accuracy",
            _B,
            sql="avg(CAST(y = yhat AS DOUBLE))",
            higher_is_better=True,
            kind="proportion",
            n_sql="count(*)",
            estimate_sql="avg(CASE WHEN yhat THEN p ELSE 1 - p END)",
            estimate_n_sql="count(p)",
        ),
        Metric(
            "precision",
            _B,
            sql="count_if(y AND yhat) / NULLIF(count_if(yhat), 0)",
            higher_is_better=True,
            kind="proportion",
            n_sql="count_if(yhat)",
            estimate_sql=f"{_EXPECTED_TP} / NULLIF({_SCORED_PREDICTED_POS}, 0)",
            estimate_n_sql=_SCORED_PREDICTED_POS,
        ),
        Metric(
            "recall",
            _B,
            sql="count_if(y AND yhat) / NULLIF(count_if(y), 0)",
            higher_is_better=True,
            kind="proportion",
            n_sql="count_if(y)",
            estimate_sql=f"{_EXPECTED_TP} / NULLIF(sum(p), 0)",
            estimate_n_sql="sum(p)",
        ),
        Metric(
            "f1",
            _B,
            # 2TP / (2TP + FP + FN): undefined only with no positive labels and no positive
            # predictions, where sklearn's zero_division would report 0.
            sql="2 * count_if(y AND yhat) / NULLIF(count_if(y) + count_if(yhat), 0)",
            higher_is_better=True,
            # Harmonic mean of the estimated precision and recall, simplified: 2S / (K + T).
            estimate_sql=f"2 * {_EXPECTED_TP} / NULLIF({_SCORED_PREDICTED_POS} + sum(p), 0)",
        ),
        Metric(
            "roc_auc",
            _B,
            # Mann-Whitney U from the positives' rank sum, tied scores sharing their average rank.
            sql=f"(sum(auc_rank) FILTER (WHERE y AND p IS NOT NULL) - {_P} * ({_P} + 1) / 2) "
            f"/ NULLIF({_P} * {_N}, 0)",
            higher_is_better=True,
            row_sql=(
                (
                    "auc_rank",
                    # Average of the tie block's first rank and last rank (cume_dist times the
                    # partition size): one sort serves both. NULL scores sort last and so never
                    # shift the ranks of scored rows.
                    "(rank() OVER (PARTITION BY {group} ORDER BY p ASC NULLS LAST) "
                    "+ round(cume_dist() OVER (PARTITION BY {group} ORDER BY p ASC NULLS LAST) "
                    "* count(*) OVER (PARTITION BY {group}))) / 2",
                ),
            ),
        ),
        Metric(
            "log_loss",
            _B,
            sql=f"avg(-ln(CASE WHEN y THEN least(greatest(p, {_CLIP}), 1 - {_CLIP}) "
            f"ELSE least(greatest(1 - p, {_CLIP}), 1 - {_CLIP}) END)) "
            # greatest() skips NULLs, so unscored rows must be filtered out, not propagated.
            "FILTER (WHERE p IS NOT NULL)",
            higher_is_better=False,
        ),
    ),
    _R: (
        Metric("mae", _R, sql="avg(abs(y - yhat))", higher_is_better=False),
        Metric("rmse", _R, sql="sqrt(avg((y - yhat) * (y - yhat)))", higher_is_better=False),
        Metric(
            "mape",
            _R,
            # Rows labelled 0 are left out: their percentage error is infinite, and sklearn's
            # max(|y|, eps) turns them into ~1e15 that swamps every other row.
            sql="avg(abs(y - yhat) / abs(y)) FILTER (WHERE y <> 0)",
            higher_is_better=False,
        ),
        Metric(
            "r2",
            _R,
            # Constant labels make r2 undefined (sklearn's force_finite reports 0 or 1).
            sql="CASE WHEN max(y) > min(y) THEN "
            "1 - sum((y - yhat) * (y - yhat)) / (var_pop(y) * count(y)) END",
            higher_is_better=True,
        ),
    ),
}


def metric_direction(task: Task | str, metric: str) -> bool:
    """Whether a larger value is better, so alerting knows which way is a regression."""
    for entry in METRICS.get(Task(task), ()):
        if entry.name == metric:
            return entry.higher_is_better
    raise KeyError(f"no metric {metric!r} registered for task {Task(task).value!r}")


def compute_performance(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, scored: str
) -> pd.DataFrame:
    """Realized (and, for binary classifiers, estimated) metrics of `scored` in `COLUMNS` shape.

    `scored` names a table or view with one row per accepted prediction (date, prediction_id,
    prediction, score, label, segment columns). `n` is the group's labelled rows for realized
    metrics and all its rows for estimated ones; a proportion's interval uses its own denominator.
    `date` comes back as `datetime.date` so the frame registers in DuckDB as DATE again.
    """
    sql, params = performance_sql(con, model, scored)
    frame = con.execute(sql, params).df()
    frame["date"] = pd.Series(
        [d.date() if isinstance(d, pd.Timestamp | dt.datetime) else d for d in frame["date"]],
        index=frame.index,
        dtype=object,
    )
    return frame[COLUMNS]


def performance_sql(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, scored: str
) -> tuple[str, dict[str, object]]:
    """The query behind `compute_performance` and its parameters, for callers that COPY directly."""
    metrics = METRICS.get(model.task)
    if not metrics:
        raise ValueError(f"model {model.model_id!r}: no metrics registered for task {model.task}")
    source = _quote_relation(scored)
    present = {c.lower() for c in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
    segments = list(dict.fromkeys([*model.segments, *model.protected_attributes]))
    _require_columns(model, present, ["date", "label", "prediction", *segments])
    params: dict[str, object] = {"model_id": model.model_id}
    row_columns = _row_columns(model, "score" in present, params)
    ctes = [
        ("base", _base_sql(source, row_columns, segments)),
        ("long", _long_sql(list(row_columns), segments)),
        ("totals", _totals_sql(metrics)),
        ("labelled_rows", _labelled_rows_sql(metrics)),
        ("realized", _realized_sql(metrics)),
        ("metric_values", _metric_values_sql(metrics)),
        ("catalogue", _catalogue_sql(metrics)),
    ]
    body = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in ctes)
    return f"WITH {body}\n{_final_sql()}", params


def _quote_relation(name: str) -> str:
    """Quote each dotted part, so `schema.table` works and nothing else can be injected."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def _require_columns(model: ModelConfig, present: set[str], needed: Sequence[str]) -> None:
    missing = [c for c in needed if c.lower() not in present]
    if missing:
        raise ValueError(f"model {model.model_id!r}: scored rows lack columns {missing}")


def _row_columns(model: ModelConfig, has_score: bool, params: dict[str, object]) -> dict[str, str]:
    """Per-task normalization of label and prediction into the columns metric SQL reads."""
    label = quote_identifier("label")
    prediction = quote_identifier("prediction")
    if model.task is Task.REGRESSION:
        return {
            "labelled": f"{label} IS NOT NULL",
            "y": f"CAST({label} AS DOUBLE)",
            "yhat": f"CAST({prediction} AS DOUBLE)",
        }
    if model.positive_class is None:
        raise ValueError(f"model {model.model_id!r}: binary classification needs positive_class")
    params["positive"] = str(model.positive_class)
    params["threshold"] = float(model.decision_threshold)
    score = f"CAST({quote_identifier('score')} AS DOUBLE)" if has_score else "CAST(NULL AS DOUBLE)"
    predicted = f"CAST({prediction} AS VARCHAR) = $positive"
    return {
        "labelled": f"{label} IS NOT NULL",
        "y": f"CAST({label} AS VARCHAR) = $positive",
        "yhat": f"CASE WHEN {score} IS NOT NULL THEN {score} >= $threshold ELSE {predicted} END",
        "p": score,
    }


def _base_sql(source: str, row_columns: Mapping[str, str], segments: Sequence[str]) -> str:
    # Segments get positional aliases so a user column called `y` or `p` cannot collide.
    selected = [f"CAST({quote_identifier('date')} AS DATE) AS date"]
    selected += [f"{sql} AS {name}" for name, sql in row_columns.items()]
    selected += [
        f"CAST({quote_identifier(col)} AS VARCHAR) AS seg_{i}" for i, col in enumerate(segments)
    ]
    return "SELECT " + ",\n  ".join(selected) + f"\nFROM {source}"


def _long_sql(row_columns: Sequence[str], segments: Sequence[str]) -> str:
    """Unpivot segments into (segment_column, segment_value); the overall group is one of them."""
    shared = ", ".join(row_columns)
    parts = [
        f"SELECT date, {quote_literal(ALL)} AS segment_column, {quote_literal(ALL)} "
        f"AS segment_value, 0 AS segment_rank, {shared} FROM base"
    ]
    parts += [
        f"SELECT date, {quote_literal(col)}, coalesce(seg_{i}, {quote_literal(NULL_SEGMENT)}), "
        f"{i + 1}, {shared} FROM base"
        for i, col in enumerate(segments)
    ]
    return "\nUNION ALL\n".join(parts)


def _metric_struct(name: str, value_sql: str, denominator_sql: str | None) -> str:
    denominator = f"CAST({denominator_sql} AS DOUBLE)" if denominator_sql else "NULL::DOUBLE"
    return (
        f"{{'metric': {quote_literal(name)}, 'value': CAST({value_sql} AS DOUBLE), "
        f"'denominator': {denominator}}}"
    )


def _totals_sql(metrics: Sequence[Metric]) -> str:
    """Row counts of every group, plus the score-based estimates that also need all rows."""
    estimates = [
        _metric_struct(m.name, m.estimate_sql, m.estimate_n_sql if m.kind == "proportion" else None)
        for m in metrics
        if m.estimate_sql
    ]
    estimated = f"[{', '.join(estimates)}]" if estimates else "[]"
    return (
        f"SELECT {_GROUP}, min(segment_rank) AS segment_rank, count(*) AS n_rows, "
        f"CAST(count_if(labelled) AS BIGINT) AS n_labelled, {estimated} AS estimated\n"
        f"FROM long GROUP BY {_GROUP}"
    )


def _labelled_rows_sql(metrics: Sequence[Metric]) -> str:
    helpers = {name: sql for m in metrics for name, sql in m.row_sql}
    extra = "".join(f", {sql.format(group=_GROUP)} AS {name}" for name, sql in helpers.items())
    return f"SELECT *{extra} FROM long WHERE labelled"


def _realized_sql(metrics: Sequence[Metric]) -> str:
    structs = [
        _metric_struct(m.name, m.sql, m.n_sql if m.kind == "proportion" else None) for m in metrics
    ]
    return (
        f"SELECT {_GROUP}, [{', '.join(structs)}] AS realized\nFROM labelled_rows GROUP BY {_GROUP}"
    )


def _metric_values_sql(metrics: Sequence[Metric]) -> str:
    """Long form of both metric lists; groups without labelled rows simply have no realized row."""
    unnested = (
        "SELECT {group}, {flag} AS is_estimated, m.metric, m.value, m.denominator\n"
        "FROM (SELECT {group}, unnest({column}) AS m FROM {table})"
    )
    parts = [unnested.format(group=_GROUP, flag="false", column="realized", table="realized")]
    if any(m.estimate_sql for m in metrics):
        parts.append(unnested.format(group=_GROUP, flag="true", column="estimated", table="totals"))
    return "\nUNION ALL\n".join(parts)


def _catalogue_sql(metrics: Sequence[Metric]) -> str:
    """Every (metric, is_estimated) a group must report, so undefined ones still get a NULL row."""
    rows = [f"({quote_literal(m.name)}, false, {i})" for i, m in enumerate(metrics)]
    rows += [
        f"({quote_literal(m.name)}, true, {i})" for i, m in enumerate(metrics) if m.estimate_sql
    ]
    return "SELECT * FROM (VALUES " + ", ".join(rows) + ") AS c(metric, is_estimated, metric_rank)"


def _wilson_sql(value: str, n: str, sign: str) -> str:
    """One Wilson score bound, same formula as statsmodels' proportion_confint(method='wilson')."""
    z2 = f"{_Z95!r} * {_Z95!r}"
    center = f"({value} + {z2} / (2 * {n}))"
    spread = f"{_Z95!r} * sqrt({value} * (1 - {value}) / {n} + {z2} / (4 * {n} * {n}))"
    bound = f"({center} {sign} {spread}) / (1 + {z2} / {n})"
    # Clamped so rounding can never put the interval beside its own estimate (at 0 or 1).
    if sign == "+":
        clamped = f"least(greatest({bound}, {value}), 1)"
    else:
        clamped = f"greatest(least({bound}, {value}), 0)"
    return f"CASE WHEN {n} > 0 AND {value} IS NOT NULL THEN {clamped} END"


def _final_sql() -> str:
    return f"""SELECT
  CAST($model_id AS VARCHAR) AS model_id,
  t.date,
  t.segment_column,
  t.segment_value,
  c.metric,
  v.value,
  CASE WHEN c.is_estimated THEN t.n_rows ELSE t.n_labelled END AS n,
  {_wilson_sql("v.value", "v.denominator", "-")} AS ci_low,
  {_wilson_sql("v.value", "v.denominator", "+")} AS ci_high,
  CAST(t.n_labelled AS DOUBLE) / t.n_rows AS label_coverage,
  c.is_estimated
FROM totals AS t
CROSS JOIN catalogue AS c
LEFT JOIN metric_values AS v
  ON v.date = t.date
  AND v.segment_column = t.segment_column
  AND v.segment_value = t.segment_value
  AND v.metric = c.metric
  AND v.is_estimated = c.is_estimated
ORDER BY t.date, t.segment_rank, t.segment_value, c.is_estimated, c.metric_rank"""
