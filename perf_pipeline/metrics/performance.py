"""Model performance per (date, segment): one DuckDB pass over the metric registry.

Every metric is a `Metric` entry in `registry.METRICS`. The query that normalizes rows per task,
groups them by (date, segment), unpivots the results into the `performance` table shape
(DESIGN §3), attaches intervals and applies the NULL rules is generated from the registry, so
adding a metric never touches the query.

Rows of the output:

- One row per (date, segment_column, segment_value, metric, is_estimated); the overall group is
  segment_column = segment_value = `__all__`, a NULL segment value is `__null__`.
- `n` is the group's labelled rows for realized metrics, and all its rows for estimated metrics
  and for metrics that need no label (`positive_rate`). `label_coverage` is always the group's
  labelled share. A metric undefined for the group (AUC of a one-class day, recall without
  positives) is NULL with `n` recorded, never a crash or a fake 0.
- `predicted_from` (binary classifiers): where the predicted classes of the rows a metric
  reads came from: `logged` (the `prediction` the system acted on), `threshold`
  (`score >= decision_threshold`) or `mixed` (both occur in the group). Which source a row
  takes is `predicted_class` (`registry` docstring); estimates are always `threshold`. NULL for
  metrics that read no predicted class (roc_auc, log_loss, brier, ...), for groups where no
  row was decided, and for every other task (their predicted class is always the logged one).
- Intervals (95 %): Wilson on the proportion's own denominator for proportions (statsmodels'
  `proportion_confint(method="wilson")`); for roc_auc the Hanley-McNeil (1982) standard error;
  for the regression errors that are means, the normal approximation of a mean, value ± z·sd/√n
  with the sample sd: mae of |e|, mean_error of e = prediction - label, and mape of |e|/|y| over
  the rows with y ≠ 0 it uses (n there counts only those rows); for rmse the delta method on the
  mean squared error (se = sd(e²)/√n / (2·rmse)). Each is value ± z·se clipped to the metric's
  range ([0, 1] for AUC, [0, ∞) for mae, rmse and mape; mean_error, a signed bias, unclipped);
  a sample sd needs two rows, so those intervals are NULL below that. No interval at all for
  median_ae, r2, mape_excluded, pr_auc, roc_auc_ovr_macro, log_loss, brier, ece, f1,
  balanced_accuracy, the averaged multiclass metrics, the ranking means (precision, recall,
  ndcg, mrr), the confusion counts and the fairness metrics.
- Fairness (binary classifiers with `protected_attributes`): one row per (date, attribute,
  metric) with segment_column = the attribute and segment_value = `__groups__`, comparing the
  attribute's groups (its segment rows, the `__null__` group left out, since an unknown value is
  no group): demographic_parity_difference = max - min positive-prediction rate (all rows),
  equal_opportunity_difference = max - min true-positive rate (labelled rows, groups without
  positives left out), disparate_impact_ratio = min rate / max rate. NULL when fewer than two
  groups have a defined value (or every rate is 0 for the ratio). `n` counts the rows of the
  groups compared (labelled rows for equal opportunity); `label_coverage` is the day's.
- Ranking: labels are JSON lists of engaged item ids; a NULL label is an unlabelled request, an
  empty list a labelled request with no relevant item (0 for precision, hit rate and mrr; left
  out of recall and nDCG, which are undefined without a relevant item). Each configured cutoff k
  gets its own precision, recall, nDCG and hit rate at k. nDCG uses binary relevance over the top
  k shown, normalized by the ideal DCG of min(k, #relevant) items; mrr looks at the whole shown
  list, so there is one per model. See `registry` for every formula.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics.estimation_sql import (
    Calibrations,
    DayCalibration,
    calibrated_source,
    estimate_se_sql,
)
from perf_pipeline.metrics.registry import (
    METRICS,
    SCORE_LEVELS,
    Context,
    Metric,
    ScoreLevels,
    metric_direction,
)
from perf_pipeline.sql import quote_identifier, quote_literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALL",
    "COLUMNS",
    "FAIRNESS_GROUPS",
    "METRICS",
    "NULL_SEGMENT",
    "DayCalibration",
    "Metric",
    "compute_performance",
    "metric_direction",
    "performance_sql",
]

ALL = "__all__"
NULL_SEGMENT = "__null__"
FAIRNESS_GROUPS = "__groups__"
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
    "predicted_from",
]
# Where a binary classifier's predicted classes came from (`predicted_from`).
LOGGED = "logged"
THRESHOLD = "threshold"
MIXED = "mixed"

# Two-sided 95 % normal quantile, as statsmodels' proportion_confint uses (norm.isf(0.025)).
_Z95 = 1.959963984540054
_GROUP = "date, segment_column, segment_value"


def compute_performance(
    con: duckdb.DuckDBPyConnection,
    model: ModelConfig,
    scored: str,
    calibrations: Calibrations | None = None,
) -> pd.DataFrame:
    """Realized (and, for classifiers, estimated) metrics of `scored` in `COLUMNS` shape.

    `scored` names a table or view with one row per accepted prediction (date, prediction_id,
    prediction, score, label, segment columns). `n` is the group's labelled rows for realized
    metrics and all its rows for estimated ones; a proportion's interval uses its own denominator.
    `calibrations` (per day, or for every day under `None`; see `estimation_sql`) calibrate the
    scores the estimates read and give them the reference's sampling-error intervals; without
    them the estimates read the raw scores. `date` comes back as `datetime.date` so the frame
    registers in DuckDB as DATE again.
    """
    import pandas as pd

    sql, params = performance_sql(con, model, scored, calibrations)
    frame = con.execute(sql, params).df()
    frame["date"] = pd.Series(
        [d.date() if isinstance(d, pd.Timestamp | dt.datetime) else d for d in frame["date"]],
        index=frame.index,
        dtype=object,
    )
    return frame[COLUMNS]


def performance_sql(
    con: duckdb.DuckDBPyConnection,
    model: ModelConfig,
    scored: str,
    calibrations: Calibrations | None = None,
) -> tuple[str, dict[str, object]]:
    """The query behind `compute_performance` and its parameters, for callers that COPY directly."""
    metrics = model_metrics(model)
    if not metrics:
        raise ValueError(f"model {model.model_id!r}: no metrics registered for task {model.task}")
    source = _quote_relation(scored)
    relation = con.sql(f"SELECT * FROM {source} LIMIT 0")
    types = {c.lower(): str(t) for c, t in zip(relation.columns, relation.types, strict=True)}
    segments = list(dict.fromkeys([*model.segments, *model.protected_attributes]))
    # A binary log may leave out the class it acted on; the score then decides.
    logged = [] if model.task is Task.BINARY_CLASSIFICATION else ["prediction"]
    _require_columns(model, set(types), ["date", "label", *logged, *segments])
    params: dict[str, object] = {"model_id": model.model_id}
    present = [c for c in model.score_columns if c.lower() in types]
    source, calibrated = calibrated_source(source, present, calibrations, params)
    prepared, row_columns = _row_columns(model, types, params, calibrated)
    se_units = estimate_se_sql(calibrations, params)
    grouped = [m for m in metrics if m.across_groups is None]
    fairness = [m for m in metrics if m.across_groups] if model.protected_attributes else []
    helpers = _RowHelpers.of(grouped, len(segments))
    decided = "yhat_from" in row_columns
    ctes = [
        ("base", _base_sql(source, prepared, row_columns, segments)),
        ("ranked", helpers.ranked_sql()),
        ("long", _long_sql(list(row_columns), segments, helpers)),
        ("totals", _totals_sql(grouped, decided)),
        ("labelled_rows", "SELECT * FROM long WHERE labelled"),
        ("realized", _realized_sql(grouped)),
        *_score_level_ctes(grouped, segments, model.task),
        ("metric_values", _metric_values_sql(grouped)),
        ("catalogue", _catalogue_sql(grouped, decided)),
        *([("estimate_se", se_units)] if se_units else []),
        ("group_rows", _group_rows_sql(with_se_units=se_units is not None)),
    ]
    if fairness:
        ranks = {m.name: i for i, m in enumerate(metrics)}
        ctes.append(("fairness_rows", _fairness_sql(fairness, ranks, model.protected_attributes)))
    body = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in ctes)
    return f"WITH {body}\n{_final_sql(bool(fairness))}", params


def model_metrics(model: ModelConfig) -> list[Metric]:
    """The model's metrics with every template filled in (`ndcg_at_10`, `recall_class_cat`)."""
    ctx = Context(cutoffs=tuple(model.k), classes=tuple(str(c) for c in model.classes))
    return [concrete for entry in METRICS.get(model.task, ()) for concrete in entry.concrete(ctx)]


def _quote_relation(name: str) -> str:
    """Quote each dotted part, so `schema.table` works and nothing else can be injected."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def _require_columns(model: ModelConfig, present: set[str], needed: Sequence[str]) -> None:
    missing = [c for c in needed if c.lower() not in present]
    if missing:
        raise ValueError(f"model {model.model_id!r}: scored rows lack columns {missing}")


RowColumns = tuple[dict[str, str], dict[str, str]]


def _row_columns(
    model: ModelConfig,
    types: Mapping[str, str],
    params: dict[str, object],
    calibrated: Mapping[str, str],
) -> RowColumns:
    """Per-task normalization of label and prediction into the columns metric SQL reads.

    Returns the `prepared` columns (computed first, over the source rows, named `__pp_*` so no
    user column can collide) and the row columns built on them. `calibrated` names the column
    holding each calibrated score (`calibrated_source`).
    """
    label = quote_identifier("label")
    prediction = quote_identifier("prediction")
    if model.task is Task.REGRESSION:
        return {}, {
            "labelled": f"{label} IS NOT NULL",
            "y": f"CAST({label} AS DOUBLE)",
            "yhat": f"CAST({prediction} AS DOUBLE)",
        }
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        return _multiclass_columns(model, types, calibrated)
    if model.task is Task.RANKING:
        return _ranking_columns(model, types)
    return _binary_columns(model, types, params, calibrated)


def _binary_columns(
    model: ModelConfig,
    types: Mapping[str, str],
    params: dict[str, object],
    calibrated: Mapping[str, str],
) -> RowColumns:
    """`y`, `p`, the decision `yhat` and where each row's decision came from (`yhat_from`).

    The decision is the logged class (positive when it is `binary_classes[1]`) wherever the log
    has one and `predicted_class` is `logged`, the thresholded score otherwise; with
    `threshold`, the thresholded score wherever there is a score. Either falls back to the
    other source where its own is NULL, so a row is only undecided when it has neither.
    `yhat_threshold` is always the thresholded score: the estimates read it, since they are
    the score's expected outcomes.
    """
    if model.positive_class is None:
        raise ValueError(f"model {model.model_id!r}: binary classification needs positive_class")
    params["positive"] = model.binary_classes[1]
    params["threshold"] = float(model.decision_threshold)
    has_score, has_prediction = "score" in types, "prediction" in types
    score = f"CAST({quote_identifier('score')} AS DOUBLE)" if has_score else "CAST(NULL AS DOUBLE)"
    logged = (
        f"CAST({quote_identifier('prediction')} AS VARCHAR)"
        if has_prediction
        else "CAST(NULL AS VARCHAR)"
    )
    sources = [(logged, LOGGED), (score, THRESHOLD)]
    if model.predicted_class == THRESHOLD:
        sources.reverse()
    source = " ".join(f"WHEN {sql} IS NOT NULL THEN {quote_literal(name)}" for sql, name in sources)
    label = quote_identifier("label")
    return {"__pp_from": f"CASE {source} END"}, {
        "labelled": f"{label} IS NOT NULL",
        "y": f"CAST({label} AS VARCHAR) = $positive",
        "yhat": f"CASE __pp_from WHEN {quote_literal(LOGGED)} THEN {logged} = $positive "
        f"WHEN {quote_literal(THRESHOLD)} THEN {score} >= $threshold END",
        "yhat_threshold": f"{score} >= $threshold",
        "yhat_from": "__pp_from",
        "p": score,
        "p_cal": calibrated.get("score", score),
    }


def _multiclass_columns(
    model: ModelConfig, types: Mapping[str, str], calibrated: Mapping[str, str]
) -> RowColumns:
    """Class text, class positions and the score list in `classes` order.

    `ps` is NULL unless every class has a score and the label is a known class, so log_loss and
    the one-vs-rest AUCs all use the same rows. `ps_raw` is the same list on every row with all
    its scores, labelled or not (what estimates rank by), and `ps_cal` those scores calibrated
    one-vs-rest and renormalized to sum to 1 (NannyML's multiclass calibration), or `ps_raw`
    as it is when the model has no calibration.
    """
    classes = [str(c) for c in model.classes]
    class_list = "[" + ", ".join(quote_literal(c) for c in classes) + "]"
    scores = [
        f"CAST({quote_identifier(f'score_{c}')} AS DOUBLE)"
        if f"score_{c}".lower() in types
        else "CAST(NULL AS DOUBLE)"
        for c in classes
    ]
    prepared = {
        "__pp_y": f"CAST({quote_identifier('label')} AS VARCHAR)",
        "__pp_yhat": f"CAST({quote_identifier('prediction')} AS VARCHAR)",
        "__pp_y_idx": f"list_position({class_list}, CAST({quote_identifier('label')} AS VARCHAR))",
    }
    all_scores = " AND ".join(f"{s} IS NOT NULL" for s in scores)
    complete = f"__pp_y_idx IS NOT NULL AND {all_scores}"
    raw = f"[{', '.join(scores)}]"
    ps_cal = raw
    columns = [f"score_{c}" for c in classes]
    if calibrated and all(c in calibrated for c in columns):
        cal = f"[{', '.join(calibrated[c] for c in columns)}]"
        ps_cal = f"list_transform({cal}, lambda v: v / NULLIF(list_sum({cal}), 0))"
    return prepared, {
        "labelled": "__pp_y IS NOT NULL",
        "y": "__pp_y",
        "yhat": "__pp_yhat",
        "y_idx": "__pp_y_idx",
        "yhat_idx": f"list_position({class_list}, __pp_yhat)",
        "ps": f"CASE WHEN {complete} THEN {raw} END",
        "ps_raw": f"CASE WHEN {all_scores} THEN {raw} END",
        "ps_cal": f"CASE WHEN {all_scores} THEN {ps_cal} END",
    }


def _item_list(column: str, types: Mapping[str, str]) -> str:
    """A VARCHAR[] of item ids from a JSON-array text column (or a column already a list)."""
    quoted = quote_identifier(column)
    if types.get(column, "").endswith("[]"):
        return f"CAST({quoted} AS VARCHAR[])"
    return f"""from_json(CAST({quoted} AS VARCHAR), '["VARCHAR"]')"""


# Whether a shown item is one the request engaged with.
_RELEVANT = "lambda x: list_contains(__pp_rel, x)"


def _ranking_columns(model: ModelConfig, types: Mapping[str, str]) -> RowColumns:
    """Per-request quantities, computed once per request before the unpivot; those of the top k
    once per cutoff, so every cutoff's metrics share one pass over the rows."""
    if not model.k or min(model.k) < 1:
        raise ValueError(f"model {model.model_id!r}: ranking needs positive cutoffs 'k'")
    columns = {
        "labelled": "__pp_rel IS NOT NULL",
        "n_rel": "len(__pp_rel)",
        "rr": f"coalesce(1 / list_position(list_transform(__pp_items, {_RELEVANT}), true), 0)",
    }
    for k in model.k:
        columns |= _cutoff_columns(int(k))
    return {
        "__pp_items": _item_list("prediction", types),
        "__pp_rel": f"list_distinct({_item_list('label', types)})",
    }, columns


def _cutoff_columns(k: int) -> dict[str, str]:
    """`hits_<k>`, `dcg_<k>` and `idcg_<k>`: what the registry's `{k}` metrics read."""
    gain = "lambda x, i: CASE WHEN list_contains(__pp_rel, x) THEN 1 / log2(i + 1) ELSE 0 END"
    return {
        f"hits_{k}": f"len(list_filter(__pp_items[1:{k}], {_RELEVANT}))",
        f"dcg_{k}": f"coalesce(list_sum(list_transform(__pp_items[1:{k}], {gain})), 0)",
        f"idcg_{k}": f"list_sum(list_transform(range(1, least({k}, len(__pp_rel)) + 1), "
        "lambda i: 1 / log2(i + 1)))",
    }


def _base_sql(
    source: str,
    prepared: Mapping[str, str],
    row_columns: Mapping[str, str],
    segments: Sequence[str],
) -> str:
    # Segments get positional aliases so a user column called `y` or `p` cannot collide.
    selected = [f"CAST({quote_identifier('date')} AS DATE) AS date"]
    selected += [f"{sql} AS {name}" for name, sql in row_columns.items()]
    selected += [
        f"CAST({quote_identifier(col)} AS VARCHAR) AS seg_{i}" for i, col in enumerate(segments)
    ]
    if prepared:
        extra = ", ".join(f"{sql} AS {name}" for name, sql in prepared.items())
        source = f"(SELECT *, {extra} FROM {source})"
    return "SELECT " + ",\n  ".join(selected) + f"\nFROM {source}"


@dataclass(frozen=True)
class _RowHelpers:
    """The metrics' per-row helper columns (`Metric.row_sql`), computed over `base`.

    A window helper (its SQL holds `{group}`) is computed once per segment grouping, directly
    over the wide rows, partitioned by (date, labelled[, the segment's value, NULL as `__null__`]),
    and picked up by that
    grouping's part of the unpivot. Windowing the unpivoted rows instead sorted every row once
    per grouping with every column as payload: at 1M rows and one segment column, 0.7 s against
    0.3 s. Partitioning by `labelled` keeps unlabelled rows out of the labelled rows' ranks, as
    the realized metrics require. The estimates' window helpers (`estimate_row_sql`) are
    partitioned without `labelled`: an estimate reads every row of its group. Those of the
    estimates over score levels are not here: they sort the narrow levels (`_score_level_ctes`).
    """

    plain: tuple[tuple[str, str], ...]
    windowed: tuple[tuple[str, str], ...]
    estimate_windowed: tuple[tuple[str, str], ...]
    groupings: int

    @classmethod
    def of(cls, metrics: Sequence[Metric], segments: int) -> _RowHelpers:
        rows = {name: sql for m in metrics if m.scope == "labelled" for name, sql in m.row_sql}
        estimates = {n: sql for m in _estimates(metrics, "rows") for n, sql in m.estimate_row_sql}
        rows |= {n: sql for n, sql in estimates.items() if "{group}" not in sql}
        return cls(
            plain=tuple((n, sql) for n, sql in rows.items() if "{group}" not in sql),
            windowed=tuple((n, sql) for n, sql in rows.items() if "{group}" in sql),
            estimate_windowed=tuple((n, sql) for n, sql in estimates.items() if "{group}" in sql),
            groupings=1 + segments,
        )

    @staticmethod
    def column(name: str, grouping: int) -> str:
        """A grouping's copy of a window helper; the `__` prefix keeps it clear of user columns."""
        return f"__h{grouping}_{name}"

    def ranked_sql(self) -> str:
        """`base` plus every helper: plain ones once, window ones once per grouping."""
        columns = [f"{sql} AS {name}" for name, sql in self.plain]
        for g in range(self.groupings):
            segment = f", coalesce(seg_{g - 1}, {quote_literal(NULL_SEGMENT)})" if g else ""
            for partition, helpers in (
                (f"date, labelled{segment}", self.windowed),
                (f"date{segment}", self.estimate_windowed),
            ):
                columns += [
                    f"{sql.replace('{group}', partition)} AS {self.column(name, g)}"
                    for name, sql in helpers
                ]
        return "SELECT *" + "".join(f",\n  {c}" for c in columns) + "\nFROM base"

    def selected(self, grouping: int) -> str:
        """The helper columns one unpivot part carries, under the names the metric SQL uses."""
        names = [name for name, _ in self.plain]
        names += [
            f"{self.column(name, grouping)} AS {name}"
            for name, _ in (*self.windowed, *self.estimate_windowed)
        ]
        return "".join(f", {n}" for n in names)


def _long_sql(row_columns: Sequence[str], segments: Sequence[str], helpers: _RowHelpers) -> str:
    """Unpivot segments into (segment_column, segment_value); the overall group is one of them."""
    shared = ", ".join(row_columns)
    parts = [
        f"SELECT date, {quote_literal(ALL)} AS segment_column, {quote_literal(ALL)} "
        f"AS segment_value, 0 AS segment_rank, {shared}{helpers.selected(0)} FROM ranked"
    ]
    parts += [
        f"SELECT date, {quote_literal(col)}, coalesce(seg_{i}, {quote_literal(NULL_SEGMENT)}), "
        f"{i + 1}, {shared}{helpers.selected(i + 1)} FROM ranked"
        for i, col in enumerate(segments)
    ]
    return "\nUNION ALL\n".join(parts)


def _metric_struct(
    name: str, value_sql: str, denominator_sql: str | None, se_sql: str | None = None
) -> str:
    denominator = f"CAST({denominator_sql} AS DOUBLE)" if denominator_sql else "NULL::DOUBLE"
    se = f"CAST({se_sql} AS DOUBLE)" if se_sql else "NULL::DOUBLE"
    return (
        f"{{'metric': {quote_literal(name)}, 'value': CAST({value_sql} AS DOUBLE), "
        f"'denominator': {denominator}, 'se': {se}}}"
    )


def _struct_list(structs: Sequence[str]) -> str:
    return f"[{', '.join(structs)}]" if structs else "[]"


def _realized_struct(m: Metric) -> str:
    return _metric_struct(m.name, str(m.sql), m.n_sql if m.kind == "proportion" else None, m.se_sql)


def _decision_counts_sql(decided: bool) -> str:
    """Per group, how many rows (and labelled rows) took their class from the log and how many
    from the threshold: what `predicted_from` is read from. Zero for tasks without a choice."""
    parts = []
    for rows, only in (("all", "TRUE"), ("labelled", "labelled")):
        for source in (LOGGED, THRESHOLD):
            count = f"count_if({only} AND yhat_from = {quote_literal(source)})" if decided else "0"
            parts.append(f"CAST({count} AS BIGINT) AS n_{source}_{rows}")
    return ", ".join(parts)


def _estimates(metrics: Sequence[Metric], over: str) -> list[Metric]:
    """The metrics with an estimate that aggregates `over` "rows" or "score_levels"."""
    return [m for m in metrics if m.estimate_sql and m.estimate_over == over]


def _estimate_struct(m: Metric) -> str:
    denominator = m.estimate_n_sql if m.kind == "proportion" else None
    return _metric_struct(m.name, str(m.estimate_sql), denominator)


def _totals_sql(metrics: Sequence[Metric], decided: bool) -> str:
    """Row counts of every group, plus the aggregates that run over all rows: score-based
    estimates and the realized metrics that need no label."""
    estimates = [_estimate_struct(m) for m in _estimates(metrics, "rows")]
    unlabelled = [_realized_struct(m) for m in metrics if m.scope == "all"]
    return (
        f"SELECT {_GROUP}, min(segment_rank) AS segment_rank, count(*) AS n_rows, "
        "CAST(count_if(labelled) AS BIGINT) AS n_labelled, "
        f"{_decision_counts_sql(decided)}, "
        f"{_struct_list(estimates)} AS estimated, {_struct_list(unlabelled)} AS realized_all\n"
        f"FROM long GROUP BY {_GROUP}"
    )


def _score_level_ctes(
    metrics: Sequence[Metric], segments: Sequence[str], task: Task
) -> list[tuple[str, str]]:
    """`ranked_levels`, the task's score levels per (date, segment) group with the estimates'
    window helpers, and `level_estimates`, the estimates that aggregate them
    (`Metric.estimate_over`); none when no metric needs them.

    Each grouping's levels are aggregated straight from `ranked`, reading only the score and
    what the sums need, and windowed on their own, partitioned by date and that grouping's
    segment value alone: the sort then sees a few narrow columns, at most one row per distinct
    score, where a window over `ranked` carries every column of every row. (Partitioning the
    union by the text columns segment_column and segment_value instead costs about three times
    as much to sort.)
    """
    estimates = _estimates(metrics, "score_levels")
    if not estimates:
        return []
    levels: ScoreLevels = SCORE_LEVELS[task]  # the registry checks that the task has them
    helpers = {name: sql for m in estimates for name, sql in m.estimate_row_sql}
    parts = [_grouping_levels_sql(levels, helpers, ALL, None)]
    parts += [_grouping_levels_sql(levels, helpers, col, i) for i, col in enumerate(segments)]
    structs = _struct_list([_estimate_struct(m) for m in estimates])
    return [
        ("ranked_levels", "\nUNION ALL\n".join(parts)),
        (
            "level_estimates",
            f"SELECT {_GROUP}, {structs} AS estimated\nFROM ranked_levels GROUP BY {_GROUP}",
        ),
    ]


def _grouping_levels_sql(
    levels: ScoreLevels, helpers: Mapping[str, str], column: str, segment: int | None
) -> str:
    """One grouping's score levels (the overall group when `segment` is None) and their
    window helpers, `{group}` standing for (date[, segment value])."""
    value = "segment_value" if segment is not None else ""
    group = f"date, {value}" if value else "date"
    value_sql = quote_literal(ALL)
    if segment is not None:
        value_sql = f"coalesce(seg_{segment}, {quote_literal(NULL_SEGMENT)})"
    sums = "".join(f", {sql} AS {name}" for name, sql in levels.sums)
    windows = "".join(
        f", {sql.replace('{group}', group)} AS {name}" for name, sql in helpers.items()
    )
    score = levels.score
    return (
        f"SELECT date, {quote_literal(column)} AS segment_column, segment_value, {score}, "
        f"{', '.join(name for name, _ in levels.sums)}{windows}\nFROM (\n"
        f"  SELECT date, {value_sql} AS segment_value, {score}{sums}\n"
        f"  FROM ranked WHERE {score} IS NOT NULL GROUP BY ALL)"
    )


def _realized_sql(metrics: Sequence[Metric]) -> str:
    structs = [_realized_struct(m) for m in metrics if m.scope == "labelled"]
    return (
        f"SELECT {_GROUP}, {_struct_list(structs)} AS realized\n"
        f"FROM labelled_rows GROUP BY {_GROUP}"
    )


def _metric_values_sql(metrics: Sequence[Metric]) -> str:
    """Long form of the metric lists; groups without labelled rows simply have no realized row."""
    unnested = (
        "SELECT {group}, {flag} AS is_estimated, m.metric, m.value, m.denominator, m.se\n"
        "FROM (SELECT {group}, unnest({column}) AS m FROM {table})"
    )
    sources = [("false", "realized", "realized")]
    if any(m.scope == "all" for m in metrics):
        sources.append(("false", "realized_all", "totals"))
    if _estimates(metrics, "rows"):
        sources.append(("true", "estimated", "totals"))
    if _estimates(metrics, "score_levels"):
        sources.append(("true", "estimated", "level_estimates"))
    return "\nUNION ALL\n".join(
        unnested.format(group=_GROUP, flag=flag, column=column, table=table)
        for flag, column, table in sources
    )


def _bound(value: float | None) -> str:
    return "NULL::DOUBLE" if value is None else f"CAST({value!r} AS DOUBLE)"


_READS_YHAT = re.compile(r"\byhat\b")
_READS_THRESHOLD = re.compile(r"\byhat_threshold\b")


def _decision(texts: Sequence[str | None], decided: bool) -> str:
    """What a metric's predicted class comes from, as SQL: 'rows' when it reads `yhat` (the
    group's rows say: logged, threshold or mixed), 'threshold' when it reads only
    `yhat_threshold`, NULL when it reads no predicted class or the task has no choice."""
    sql = " ".join(t for t in texts if t)
    if decided and _READS_YHAT.search(sql):
        return quote_literal("rows")
    if decided and _READS_THRESHOLD.search(sql):
        return quote_literal(THRESHOLD)
    return "NULL::VARCHAR"


def _realized_texts(m: Metric) -> list[str | None]:
    rows = m.row_sql if isinstance(m.row_sql, tuple) else ()
    return [str(m.sql), m.n_sql, m.se_sql, *(body for _, body in rows)]


def _catalogue_sql(metrics: Sequence[Metric], decided: bool) -> str:
    """Every (metric, is_estimated) a group must report, so undefined ones still get a NULL row,
    with what the final step needs per metric: whether `n` is all rows, interval bounds, and
    where its predicted class comes from."""
    rows = [
        f"({quote_literal(m.name)}, false, {i}, {m.scope == 'all'}, "
        f"{_bound(m.bounds[0])}, {_bound(m.bounds[1])}, {_decision(_realized_texts(m), decided)})"
        for i, m in enumerate(metrics)
    ]
    rows += [
        f"({quote_literal(m.name)}, true, {i}, true, {_bound(m.estimate_range[0])}, "
        f"{_bound(m.estimate_range[1])}, "
        f"{_decision([str(m.estimate_sql), m.estimate_n_sql], decided)})"
        for i, m in enumerate(metrics)
        if m.estimate_sql
    ]
    return (
        "SELECT * FROM (VALUES " + ", ".join(rows) + ") "
        "AS c(metric, is_estimated, metric_rank, all_rows, low_bound, high_bound, decision)"
    )


def _predicted_from_sql() -> str:
    """`predicted_from` of a group row: the sources of the rows its metric reads (all rows or
    the labelled ones), 'mixed' when both occur, NULL when none was decided."""
    rows = "CASE WHEN c.is_estimated OR c.all_rows THEN 'all' ELSE 'labelled' END"
    logged = f"CASE {rows} WHEN 'all' THEN t.n_{LOGGED}_all ELSE t.n_{LOGGED}_labelled END"
    thresholded = (
        f"CASE {rows} WHEN 'all' THEN t.n_{THRESHOLD}_all ELSE t.n_{THRESHOLD}_labelled END"
    )
    from_rows = (
        f"CASE WHEN {logged} > 0 AND {thresholded} > 0 THEN {quote_literal(MIXED)} "
        f"WHEN {logged} > 0 THEN {quote_literal(LOGGED)} "
        f"WHEN {thresholded} > 0 THEN {quote_literal(THRESHOLD)} END"
    )
    return f"CASE c.decision WHEN 'rows' THEN {from_rows} ELSE c.decision END"


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


def _normal_sql(value: str, se: str, sign: str, bound: str) -> str:
    """value ± z·se, clipped to the metric's range (greatest/least skip a NULL bound)."""
    clip = "greatest" if sign == "-" else "least"
    return (
        f"CASE WHEN {value} IS NOT NULL AND {se} IS NOT NULL "
        f"THEN {clip}({value} {sign} {_Z95!r} * {se}, {bound}) END"
    )


def _group_rows_sql(with_se_units: bool) -> str:
    """Every (group, metric) row with its interval: for an estimate with a reference sampling
    error, value ± z·se_unit/√n over the group's rows; else Wilson for a proportion; else the
    metric's own standard error."""
    sampling = "u.se_unit / sqrt(t.n_rows)" if with_se_units else "NULL::DOUBLE"
    low = f"coalesce({_normal_sql('v.value', sampling, '-', 'c.low_bound')}, "
    low += f"{_wilson_sql('v.value', 'v.denominator', '-')}, "
    low += f"{_normal_sql('v.value', 'v.se', '-', 'c.low_bound')})"
    high = f"coalesce({_normal_sql('v.value', sampling, '+', 'c.high_bound')}, "
    high += f"{_wilson_sql('v.value', 'v.denominator', '+')}, "
    high += f"{_normal_sql('v.value', 'v.se', '+', 'c.high_bound')})"
    se_join = (
        "\nLEFT JOIN estimate_se AS u ON c.is_estimated AND u.metric = c.metric "
        "AND (u.day IS NULL OR u.day = t.date)"
        if with_se_units
        else ""
    )
    return f"""SELECT
  t.date,
  t.segment_column,
  t.segment_value,
  t.segment_rank,
  c.metric,
  c.metric_rank,
  v.value,
  CASE WHEN c.is_estimated OR c.all_rows THEN t.n_rows ELSE t.n_labelled END AS n,
  {low} AS ci_low,
  {high} AS ci_high,
  CAST(t.n_labelled AS DOUBLE) / t.n_rows AS label_coverage,
  c.is_estimated,
  {_predicted_from_sql()} AS predicted_from,
  t.n_rows,
  t.n_labelled
FROM totals AS t
CROSS JOIN catalogue AS c
LEFT JOIN metric_values AS v
  ON v.date = t.date
  AND v.segment_column = t.segment_column
  AND v.segment_value = t.segment_value
  AND v.metric = c.metric
  AND v.is_estimated = c.is_estimated{se_join}"""


def _fairness_sql(
    metrics: Sequence[Metric], ranks: Mapping[str, int], attributes: Sequence[str]
) -> str:
    """Each fairness metric aggregates its source metric's realized values over an attribute's
    groups; the `__null__` group's value is blanked so it is no group, but it still counts in
    the day's label coverage."""
    attribute_list = ", ".join(quote_literal(a) for a in dict.fromkeys(attributes))
    parts = []
    for m in metrics:
        source = quote_literal(str(m.across_groups))
        groups = quote_literal(FAIRNESS_GROUPS)
        parts.append(f"""SELECT date, segment_column, {groups} AS segment_value,
  min(segment_rank) AS segment_rank, {quote_literal(m.name)} AS metric,
  {ranks[m.name]} AS metric_rank,
  CASE WHEN count(value) >= 2 THEN CAST({m.sql} AS DOUBLE) END AS value,
  CAST(coalesce(sum(n) FILTER (WHERE value IS NOT NULL), 0) AS BIGINT) AS n,
  NULL::DOUBLE AS ci_low, NULL::DOUBLE AS ci_high,
  CAST(sum(n_labelled) AS DOUBLE) / sum(n_rows) AS label_coverage,
  false AS is_estimated,
  {_fairness_source_sql()} AS predicted_from
FROM (
  SELECT * REPLACE (CASE WHEN segment_value <> {quote_literal(NULL_SEGMENT)} THEN value END
    AS value)
  FROM group_rows
  WHERE metric = {source} AND NOT is_estimated AND segment_column IN ({attribute_list})
)
GROUP BY date, segment_column""")
    return "\nUNION ALL\n".join(parts)


def _fairness_source_sql() -> str:
    """The compared groups' common source, or 'mixed' when they differ."""
    compared = "FILTER (WHERE value IS NOT NULL)"
    return (
        f"CASE WHEN count(DISTINCT predicted_from) {compared} > 1 THEN {quote_literal(MIXED)} "
        f"ELSE min(predicted_from) {compared} END"
    )


def _final_sql(with_fairness: bool) -> str:
    shared = (
        "date, segment_column, segment_value, segment_rank, metric, metric_rank, value, n, "
        "ci_low, ci_high, label_coverage, is_estimated, predicted_from"
    )
    union = f"\nUNION ALL\nSELECT {shared} FROM fairness_rows" if with_fairness else ""
    return f"""SELECT
  CAST($model_id AS VARCHAR) AS model_id,
  date, segment_column, segment_value, metric, value, n, ci_low, ci_high, label_coverage,
  is_estimated, predicted_from
FROM (SELECT {shared} FROM group_rows{union})
ORDER BY date, segment_rank, segment_value, is_estimated, metric_rank"""
