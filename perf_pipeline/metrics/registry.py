"""The metric registry: every performance metric is one `Metric` entry in `METRICS`.

An entry holds the SQL aggregate that computes the metric over a (date, segment) group, its
direction and, when it has one, how its confidence interval is built. `performance.py` generates
the query from these entries, so adding a metric never touches the query.

Metric SQL sees one row per prediction, already normalized per task (see
`performance._row_columns`):

- binary_classification: `y` BOOLEAN (the label is the positive class, `binary_classes[1]`),
  `yhat` BOOLEAN (the predicted class is the positive one), `yhat_threshold` BOOLEAN
  (`score >= decision_threshold`, NULL without a score) and `p` DOUBLE (the score, possibly
  NULL). `yhat` is the class the system acted on: with `predicted_class: logged` (the default)
  the logged `prediction` wherever the log has one, `score >= decision_threshold` where it is
  NULL; with `predicted_class: threshold`, `score >= decision_threshold` wherever there is a
  score (the logged class where there is none). Every metric that reads `yhat` (accuracy,
  precision, recall, f1, specificity, balanced accuracy, positive rate, the confusion counts
  and the fairness differences) is therefore about the decisions actually made, and its row
  says where they came from (`predicted_from`: `logged`, `threshold` or `mixed`). Estimates
  (`estimate_sql`) read `yhat_threshold`: they are the expected outcome of the score's own
  decision, so their `predicted_from` is `threshold`. They read `p_cal`, the score mapped
  through the model's calibration (`perf_pipeline.estimation`; the score itself when the
  calibration does not help or none was given), and order rows by the raw `p`.
- multiclass_classification: `y`/`yhat` VARCHAR (label and logged prediction), `y_idx`/`yhat_idx`
  their 1-based position in the configured `classes` (NULL for an unknown class) and `ps`
  DOUBLE[] (the `score_<class>` columns in `classes` order; NULL unless every score is present
  and the label is a known class, so score-based metrics all use the same rows). Estimates read
  `ps_raw` (the same list for every row with all its scores, labelled or not) and `ps_cal`
  (those scores calibrated one-vs-rest and renormalized to sum to 1; `ps_raw` uncalibrated).
- regression: `y` DOUBLE (label) and `yhat` DOUBLE (prediction).
- ranking (one row per request): `n_rel` (distinct relevant items), `rr` (reciprocal rank of
  the first relevant item in the whole shown list, 0 if none) and, for each configured cutoff k,
  `hits_<k>` (items of the top k that are relevant), `dcg_<k>` and `idcg_<k>` (binary-relevance
  DCG of the top k and of the ideal top k).

Templates: a metric whose name contains `{k}` is repeated for each of the model's ranking cutoffs,
`{k}` standing for that cutoff in its name and SQL (so `avg(dcg_{k} / NULLIF(idcg_{k}, 0))`
reads the columns of its own cutoff); a metric whose name lacks `{k}` may not use it. Name and
SQL may also contain `{n_classes}`; a `per_class` metric is repeated for each configured class
with `{i}` its 1-based index and `{cls}` its text (names only). SQL that depends on the class
list in ways a template cannot express is a function of the `Context`. `se_sql` may use
`{value}` for the metric's own aggregate.

An estimate (`estimate_sql`) is an aggregate over all rows of a group, labelled or not; its own
window helpers (`estimate_row_sql`) see `{group}` as the group's rows regardless of labels. A
rank-based estimate instead aggregates the group's score levels (`estimate_over="score_levels"`,
`SCORE_LEVELS`): one narrow row per distinct score, which its window helpers sort.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from perf_pipeline.config import Task

__all__ = [
    "ECE_BINS",
    "METRICS",
    "SCORE_LEVELS",
    "Context",
    "Metric",
    "ScoreLevels",
    "metric_direction",
]


@dataclass(frozen=True)
class Context:
    """What a model contributes to its metrics' SQL: its ranking cutoffs and its class list."""

    cutoffs: tuple[int, ...] = ()
    classes: tuple[str, ...] = ()


SqlText = str | Callable[[Context], str]
RowSql = tuple[tuple[str, str], ...] | Callable[[Context], tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class ScoreLevels:
    """A task's score levels: per group, one row per distinct non-NULL `score` (a row column)
    with the `sums` aggregated over the rows that share it, named as the estimates read them.

    Rank-based estimates need the rows in score order, and all they read of a row is its score
    and its calibrated weight. Sorting the levels (a few columns, at most one row per distinct
    score) instead of the rows (every column as payload) costs a fraction: tied scores share a
    rank anyway, so nothing is lost by merging them first.
    """

    score: str
    sums: tuple[tuple[str, str], ...]


# Binary: rows and expected positives (summed calibrated scores) at each calibrated score, and
# whether its rows share one raw score (a tie, or a row on a ramp of the curve).
SCORE_LEVELS: dict[Task, ScoreLevels] = {
    Task.BINARY_CLASSIFICATION: ScoreLevels(
        score="p_cal",
        sums=(
            ("level_rows", "CAST(count(*) AS DOUBLE)"),
            ("level_pos", "sum(p_cal)"),
            ("level_one_score", "min(p) = max(p)"),
        ),
    ),
}


@dataclass(frozen=True)
class Metric:
    """One performance metric, defined once.

    - `n_sql`: the aggregate of a proportion's own denominator (precision's is the predicted
      positives), which the Wilson interval needs.
    - `se_sql`: for the other metrics that carry an interval, the aggregate of their standard
      error; the interval is `value ± z·se`, clipped to `bounds`.
    - `estimate_sql`/`estimate_n_sql`: the confidence-based estimate from scores alone, for days
      whose labels have not arrived. `estimate_row_sql`: its per-row helpers, like `row_sql`
      but partitioned over all the group's rows. An estimate's interval is the reference's
      sampling error when the calibration carries one for it (±z·se_unit/√n, clipped to
      `estimate_range`), else Wilson on `estimate_n_sql` for proportions.
    - `estimate_over`: "rows" (the default), or "score_levels": `estimate_sql` then aggregates
      the group's score levels (`SCORE_LEVELS` of the task) and `estimate_row_sql` are window
      helpers over those levels, `{group}` their group. For estimates that rank by score.
    - `row_sql`: per-row helper columns the aggregate needs (window functions allowed, with
      `{group}` standing for the group's partition columns), so rank-based metrics stay one entry.
    - `scope`: "labelled" metrics run over a group's labelled rows; "all" ones over all its rows
      (they need no label, like the share of positive predictions), and their `n` is all rows.
    - `across_groups`: a fairness metric. Its `sql` aggregates `value`, the realized values of
      the named metric over the groups of one protected attribute (see `performance`).
    - `per_class`: repeated for each configured class (multiclass).
    """

    name: str
    task: Task
    sql: SqlText
    higher_is_better: bool
    kind: Literal["proportion", "other"] = "other"
    n_sql: str | None = None
    se_sql: str | None = None
    bounds: tuple[float | None, float | None] = (None, None)
    estimate_sql: SqlText | None = None
    estimate_n_sql: str | None = None
    estimate_row_sql: RowSql = ()
    estimate_over: Literal["rows", "score_levels"] = "rows"
    row_sql: RowSql = ()
    scope: Literal["labelled", "all"] = "labelled"
    across_groups: str | None = None
    per_class: bool = False

    def __post_init__(self) -> None:
        if self.kind == "proportion" and self.n_sql is None:
            raise ValueError(f"proportion metric {self.name!r} needs n_sql")
        if self.kind == "proportion" and self.estimate_sql and self.estimate_n_sql is None:
            raise ValueError(f"proportion metric {self.name!r} needs estimate_n_sql")
        if self.kind == "proportion" and self.se_sql:
            raise ValueError(f"proportion metric {self.name!r} uses the Wilson interval")
        if self.estimate_over == "score_levels" and self.task not in SCORE_LEVELS:
            raise ValueError(f"metric {self.name!r}: task {self.task} has no score levels")
        if "{k}" not in self.name and any("{k}" in text for text in self._texts()):
            # Only a name with `{k}` is repeated per cutoff; elsewhere `{k}` has no one value.
            raise ValueError(f"metric {self.name!r} uses {{k}} in its SQL but not in its name")

    def _texts(self) -> list[str]:
        """The entry's SQL written as plain text (functions of the `Context` cannot be read)."""
        texts = [self.sql, self.n_sql, self.se_sql, self.estimate_sql, self.estimate_n_sql]
        for rows in (self.row_sql, self.estimate_row_sql):
            if not callable(rows):
                texts += [part for row in rows for part in row]
        return [text for text in texts if isinstance(text, str)]

    @property
    def estimate_range(self) -> tuple[float | None, float | None]:
        """What an estimate's interval is clipped to: the metric's `bounds`, [0, 1] for a
        proportion without them."""
        if self.bounds != (None, None) or self.kind != "proportion":
            return self.bounds
        return (0.0, 1.0)

    def matches(self, name: str) -> bool:
        """Whether `name` is this metric once its templates are filled in (`ndcg_at_10`)."""
        pattern = re.escape(self.name).replace(r"\{k\}", r"\d+").replace(r"\{cls\}", ".+")
        return re.fullmatch(pattern, name) is not None

    def concrete(self, ctx: Context) -> list[Metric]:
        """The entries this metric stands for in one model, every template filled in: one per
        ranking cutoff when its name holds `{k}`, times one per class when it is `per_class`."""
        cutoffs: list[dict[str, str]] = [{}]
        if "{k}" in self.name:
            cutoffs = [{"{k}": str(k)} for k in ctx.cutoffs]
        classes: list[dict[str, str]] = [{}]
        if self.per_class:
            classes = [{"{i}": str(i), "{cls}": c} for i, c in enumerate(ctx.classes, start=1)]
        return [self._fill(ctx, {**cutoff, **cls}) for cutoff in cutoffs for cls in classes]

    def _fill(self, ctx: Context, extra: dict[str, str]) -> Metric:
        tokens = {"{n_classes}": str(len(ctx.classes)), **extra}

        def fill(text: SqlText | None) -> str | None:
            if text is None:
                return None
            rendered = text(ctx) if callable(text) else text
            for token, value in tokens.items():
                rendered = rendered.replace(token, value)
            return rendered

        def fill_rows(rows: RowSql) -> tuple[tuple[str, str], ...]:
            listed = rows(ctx) if callable(rows) else rows
            return tuple((fill(name) or name, fill(body) or body) for name, body in listed)

        sql = fill(self.sql)
        se = fill(self.se_sql)
        return replace(
            self,
            name=fill(self.name) or self.name,
            sql=sql or "",
            n_sql=fill(self.n_sql),
            se_sql=se.replace("{value}", f"({sql})") if se else None,
            estimate_sql=fill(self.estimate_sql),
            estimate_n_sql=fill(self.estimate_n_sql),
            row_sql=fill_rows(self.row_sql),
            estimate_row_sql=fill_rows(self.estimate_row_sql),
            per_class=False,
        )


_B = Task.BINARY_CLASSIFICATION
_M = Task.MULTICLASS_CLASSIFICATION
_R = Task.REGRESSION
_K = Task.RANKING

# sklearn's log_loss clips probabilities to [eps, 1 - eps] with eps of float64
# (`np.finfo(np.float64).eps`, which is Python's own float epsilon).
_EPS = sys.float_info.epsilon
_CLIP = f"CAST({_EPS!r} AS DOUBLE)"
ECE_BINS = 10

# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------

# Confidence-based estimates (CBPE): each row's calibrated score `p_cal` is the probability
# that its label is positive, so the expected confusion matrix is sums of `p_cal` and
# `1 - p_cal`. Estimates judge the score's own decision (`yhat_threshold`), whatever the model's
# `predicted_class`.
_EXPECTED_TP = "coalesce(sum(p_cal) FILTER (WHERE yhat_threshold), 0)"
_EXPECTED_TN = "coalesce(sum(1 - p_cal) FILTER (WHERE NOT yhat_threshold), 0)"
_SCORED_PREDICTED_POS = "count(p_cal) FILTER (WHERE yhat_threshold)"
# The rank-based estimates (roc_auc, pr_auc) read the group's score levels (`SCORE_LEVELS`): one
# row per distinct calibrated score `p_cal` with `level_rows`, its rows, and `level_pos`, their
# summed p_cal: the expected positives at that score. Ranking by the calibrated score is
# NannyML's CBPE (its estimates sort the calibrated probabilities). An isotonic calibration is a
# step function of the raw score, so a day of a million distinct raw scores has a few hundred
# to a few thousand levels (the flat steps and the rows between them), and their sort is cheap.
# For roc_auc it changes nothing: within a flat step every row carries the same weights, so its
# pairs count the same whichever raw order they had, and elsewhere the curve keeps the raw order
# (`test_cbpe_levels.py`). pr_auc keeps the raw order inside a step (`_EST_PR_AUC`). Without a
# calibration p_cal is the raw score. Both window sums share one sort. The levels of a group
# are distinct scores, so a running ROWS frame already takes in the whole tie; it needs no
# search for peers, as RANGE would.
_LEVEL_ORDER = "PARTITION BY {group} ORDER BY p_cal DESC ROWS UNBOUNDED PRECEDING"
_EST_LEVEL_ROWS = (
    ("est_rows_at_or_above", f"sum(level_rows) OVER ({_LEVEL_ORDER})"),
    ("est_pos_at_or_above", f"sum(level_pos) OVER ({_LEVEL_ORDER})"),
)
# Weighted Mann-Whitney: every row is a positive of weight p_cal and a negative of weight
# 1 - p_cal; each negative weight meets the positive weight scored above it, tied scores counted
# half. Equals sklearn's roc_auc_score over the rows doubled, labels 1 and 0, weights p_cal and
# 1 - p_cal, which is the expected-TPR-against-expected-FPR curve NannyML integrates. Per level:
# its negative weight (level_rows - level_pos) meets the positive weight above it plus half its
# own.
_EST_AUC = (
    "sum((level_rows - level_pos) * (est_pos_at_or_above - level_pos / 2)) "
    "/ NULLIF(sum(level_pos) * sum(level_rows - level_pos), 0)"
)


# Average precision with each row's expected positive weight: sum over rows of
# p_cal * (expected positives at or above / rows at or above), over the expected positives, the
# rows in raw-score order (as the realized pr_auc ranks them). Ranking by the calibrated level
# alone, each row of a flat step would get the step's mean precision: 75 % more error on the
# benchmark's stream (`benchmarks/README.md`). A level whose rows share one raw score keeps them
# tied: its weight level_pos meets the precision at its end. The k-th of the m rows of a flat
# step (weight c = p_cal each, P0 expected positives and R0 rows above the step) sees precision
# (P0 + c·k) / (R0 + k), which is the same whatever raw order the step's rows have among
# themselves, so the step sums to c·(c·m + (P0 - c·R0)·(H(R0 + m) - H(R0))), H the harmonic
# numbers: exactly the raw order's value when the step's raw scores are distinct; raw ties
# inside a step are counted as if split.
def _harmonic(n: str) -> str:
    """H(n) = 1 + 1/2 + ... + 1/n of a whole number n >= 0: summed below 64, else its
    asymptotic series, whose error there is below 1e-16."""
    series = (
        f"ln({n}) + 0.5772156649015329 + 1 / (2 * {n}) - 1 / (12 * {n} ^ 2) "
        f"+ 1 / (120 * {n} ^ 4) - 1 / (252 * {n} ^ 6)"
    )
    exact = (
        f"coalesce(list_sum(list_transform(range(1, CAST({n} AS BIGINT) + 1), lambda j: 1 / j)), 0)"
    )
    return f"CASE WHEN {n} < 64 THEN {exact} ELSE {series} END"


_ROWS_ABOVE = "(est_rows_at_or_above - level_rows)"
_POS_ABOVE = "(est_pos_at_or_above - level_pos)"
_STEP_WEIGHT = "(level_pos / level_rows)"  # the step's p_cal
_STEP_PRECISION_SUM = (
    f"{_STEP_WEIGHT} * (level_pos + ({_POS_ABOVE} - {_STEP_WEIGHT} * {_ROWS_ABOVE}) "
    f"* ({_harmonic('est_rows_at_or_above')} - {_harmonic(_ROWS_ABOVE)}))"
)
_EST_PR_AUC = (
    "sum(CASE WHEN level_one_score THEN level_pos * est_pos_at_or_above / est_rows_at_or_above "
    f"ELSE {_STEP_PRECISION_SUM} END) / NULLIF(sum(level_pos), 0)"
)
# Labelled positives and negatives that carry a score: the two samples AUC compares.
_P = "CAST(count_if(y AND p IS NOT NULL) AS DOUBLE)"
_N = "CAST(count_if(NOT y AND p IS NOT NULL) AS DOUBLE)"
_S = "CAST(count(p) AS DOUBLE)"
_TPR = "count_if(y AND yhat) / NULLIF(count_if(y), 0)"
_TNR = "count_if(NOT y AND NOT yhat) / NULLIF(count_if(NOT y), 0)"

# One descending sort by score serves roc_auc and pr_auc. NULL scores sort last, so for a scored
# row `score_rank` is 1 + #(scores above it) and the default RANGE frame (which takes in tied
# rows) counts the rows and positives scored at or above it.
_SCORE_ORDER = "OVER (PARTITION BY {group} ORDER BY p DESC NULLS LAST)"
_SCORE_ROWS = (
    ("score_rank", f"rank() {_SCORE_ORDER}"),
    ("at_or_above", f"count(*) {_SCORE_ORDER}"),
    ("positives_at_or_above", f"count_if(y) {_SCORE_ORDER}"),
)
# Mann-Whitney U from the positives' rank sum, tied scores sharing their average ascending rank,
# which is S + 1 - (at_or_above + score_rank) / 2 for S scored rows.
_AUC = (
    f"({_P} * ({_S} + 1) - sum((at_or_above + score_rank) / 2) FILTER (WHERE y AND p IS NOT NULL)"
    f" - {_P} * ({_P} + 1) / 2) / NULLIF({_P} * {_N}, 0)"
)
# Hanley & McNeil (1982): se² = (A(1-A) + (P-1)(Q1-A²) + (N-1)(Q2-A²)) / (PN),
# Q1 = A/(2-A), Q2 = 2A²/(1+A).
_HANLEY_MCNEIL = (
    "sqrt(greatest(({value} * (1 - {value}) "
    f"+ ({_P} - 1) * ({{value}} / (2 - {{value}}) - {{value}} * {{value}}) "
    f"+ ({_N} - 1) * (2 * {{value}} * {{value}} / (1 + {{value}}) - {{value}} * {{value}})) "
    f"/ NULLIF({_P} * {_N}, 0), 0))"
)
# Expected calibration error: sum over bins of |sum(y - p)| / N, i.e. sum_b (n_b/N)|ȳ_b - p̄_b|.
_ECE = (
    "("
    + " + ".join(
        f"abs(coalesce(sum(CAST(y AS DOUBLE) - p) FILTER (WHERE ece_bin = {b}), 0))"
        for b in range(ECE_BINS)
    )
    + ") / NULLIF(count(p), 0)"
)


def _count(name: str, condition: str, higher_is_better: bool) -> Metric:
    """A confusion-matrix cell, reported as a count of labelled rows."""
    return Metric(name, _B, sql=f"count_if({condition})", higher_is_better=higher_is_better)


_BINARY = (
    Metric(
        "accuracy",
        _B,
        sql="avg(CAST(y = yhat AS DOUBLE))",
        higher_is_better=True,
        kind="proportion",
        n_sql="count(*)",
        estimate_sql="avg(CASE WHEN yhat_threshold THEN p_cal ELSE 1 - p_cal END)",
        estimate_n_sql="count(p_cal)",
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
        sql=_TPR,
        higher_is_better=True,
        kind="proportion",
        n_sql="count_if(y)",
        estimate_sql=f"{_EXPECTED_TP} / NULLIF(sum(p_cal), 0)",
        estimate_n_sql="sum(p_cal)",
    ),
    Metric(
        "f1",
        _B,
        # 2TP / (2TP + FP + FN): undefined only with no positive labels and no positive
        # predictions, where sklearn's zero_division would report 0.
        sql="2 * count_if(y AND yhat) / NULLIF(count_if(y) + count_if(yhat), 0)",
        higher_is_better=True,
        bounds=(0.0, 1.0),
        # Harmonic mean of the estimated precision and recall, simplified: 2S / (K + T).
        estimate_sql=f"2 * {_EXPECTED_TP} / NULLIF({_SCORED_PREDICTED_POS} + sum(p_cal), 0)",
    ),
    Metric(
        "roc_auc",
        _B,
        sql=_AUC,
        higher_is_better=True,
        se_sql=_HANLEY_MCNEIL,
        bounds=(0.0, 1.0),
        row_sql=_SCORE_ROWS,
        estimate_sql=_EST_AUC,
        estimate_row_sql=_EST_LEVEL_ROWS,
        estimate_over="score_levels",
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
    Metric(
        "balanced_accuracy",
        _B,
        # Mean of TPR and TNR. Like sklearn, a group holding one true class averages only the
        # recall that exists (sklearn warns and drops the undefined one).
        sql=f"(coalesce({_TPR}, {_TNR}) + coalesce({_TNR}, {_TPR})) / 2",
        higher_is_better=True,
    ),
    Metric(
        "specificity",
        _B,
        sql=_TNR,
        higher_is_better=True,
        kind="proportion",
        n_sql="count_if(NOT y)",
        estimate_sql=f"{_EXPECTED_TN} / NULLIF(sum(1 - p_cal), 0)",
        estimate_n_sql="sum(1 - p_cal)",
    ),
    Metric(
        "pr_auc",
        _B,
        # sklearn's average_precision_score: sum over distinct thresholds of
        # ΔRecall * Precision, i.e. the mean over positives of the precision among the rows
        # scored at or above them. Undefined without a scored positive.
        sql="sum(positives_at_or_above / at_or_above) FILTER (WHERE y AND p IS NOT NULL) "
        f"/ NULLIF({_P}, 0)",
        higher_is_better=True,
        bounds=(0.0, 1.0),
        row_sql=_SCORE_ROWS,
        estimate_sql=_EST_PR_AUC,
        estimate_row_sql=_EST_LEVEL_ROWS,
        estimate_over="score_levels",
    ),
    Metric(
        "brier",
        _B,
        sql="avg((p - CAST(y AS DOUBLE)) * (p - CAST(y AS DOUBLE)))",
        higher_is_better=False,
    ),
    Metric(
        "ece",
        _B,
        sql=_ECE,
        higher_is_better=False,
        # Ten equal-width bins [0, .1), ..., [.8, .9), [.9, 1]: bin = min(floor(10p), 9).
        row_sql=(("ece_bin", f"least(floor(p * {ECE_BINS}), {ECE_BINS - 1})"),),
    ),
    Metric(
        "positive_rate",
        _B,
        sql="avg(CAST(yhat AS DOUBLE))",
        # Neither direction is good in itself; a rise in flagged share is what alerts should see.
        higher_is_better=False,
        kind="proportion",
        n_sql="count(*)",
        scope="all",
    ),
    _count("tp", "y AND yhat", True),
    _count("fp", "NOT y AND yhat", False),
    _count("tn", "NOT y AND NOT yhat", True),
    _count("fn", "y AND NOT yhat", False),
    Metric(
        "demographic_parity_difference",
        _B,
        sql="max(value) - min(value)",
        higher_is_better=False,
        across_groups="positive_rate",
    ),
    Metric(
        "equal_opportunity_difference",
        _B,
        sql="max(value) - min(value)",
        higher_is_better=False,
        across_groups="recall",
    ),
    Metric(
        "disparate_impact_ratio",
        _B,
        sql="min(value) / NULLIF(max(value), 0)",
        higher_is_better=True,
        across_groups="positive_rate",
    ),
)

# ---------------------------------------------------------------------------------------------
# Multiclass classification
# ---------------------------------------------------------------------------------------------

# Per-class counts as MAP(class index -> count); a class absent from the map has count 0.
_TP_MAP = "(histogram(y_idx) FILTER (WHERE y_idx = yhat_idx))"
_PRED_MAP = "histogram(yhat_idx)"
_TRUE_MAP = "histogram(y_idx)"
_CLASS_INDICES = "range(1, {n_classes} + 1)"


def _tp(c: str) -> str:
    return f"coalesce({_TP_MAP}[{c}], 0)"


def _support(c: str) -> str:
    return f"coalesce({_TRUE_MAP}[{c}], 0)"


def _predicted(c: str) -> str:
    return f"coalesce({_PRED_MAP}[{c}], 0)"


_PER_CLASS: dict[str, Callable[[str], str]] = {
    "precision": lambda c: f"{_tp(c)} / NULLIF({_predicted(c)}, 0)",
    "recall": lambda c: f"{_tp(c)} / NULLIF({_support(c)}, 0)",
    "f1": lambda c: f"2 * {_tp(c)} / NULLIF({_predicted(c)} + {_support(c)}, 0)",
}


def _macro(stat: str) -> str:
    """Unweighted mean over the classes where the statistic is defined.

    sklearn with labels=classes and zero_division=np.nan: undefined classes (no prediction for
    precision, no label for recall, neither for f1) are left out instead of counted as 0.
    """
    return f"list_avg(list_transform({_CLASS_INDICES}, lambda c: {_PER_CLASS[stat]('c')}))"


def _weighted(stat: str) -> str:
    """Support-weighted mean over the defined classes (sklearn's _nanaverage); when those
    classes have no support at all, sklearn falls back to their plain mean."""
    value = _PER_CLASS[stat]("c")
    weighted = f"list_sum(list_transform({_CLASS_INDICES}, lambda c: ({value}) * {_support('c')}))"
    weights = (
        f"list_sum(list_transform({_CLASS_INDICES}, "
        f"lambda c: CASE WHEN ({value}) IS NOT NULL THEN {_support('c')} END))"
    )
    return f"coalesce({weighted} / NULLIF({weights}, 0), {_macro(stat)})"


def _class_order(i: int) -> str:
    return f"OVER (PARTITION BY {{group}} ORDER BY ps[{i}] DESC NULLS LAST)"


def _ovr_rows(ctx: Context) -> tuple[tuple[str, str], ...]:
    """Each class needs its own score order for its one-vs-rest AUC."""
    rows: list[tuple[str, str]] = []
    for i in range(1, len(ctx.classes) + 1):
        rows.append((f"ovr_rank_{i}", f"rank() {_class_order(i)}"))
        rows.append((f"ovr_at_or_above_{i}", f"count(*) {_class_order(i)}"))
    return tuple(rows)


def _ovr_auc(ctx: Context) -> str:
    """Mean of the per-class AUCs (same rank formula as binary roc_auc).

    NULL where a class is absent from, or alone in, the group's scored rows. Score rows that
    do not sum to 1 still count: each class's AUC uses only its own score, so the mean is the
    one sklearn's binary roc_auc_score gives per class, where its multiclass form refuses to
    run (rounded probabilities would otherwise blank the metric for a whole day).
    """
    scored = "CAST(count(ps) AS DOUBLE)"
    aucs = []
    for i in range(1, len(ctx.classes) + 1):
        pos = f"CAST(count_if(y_idx = {i} AND ps IS NOT NULL) AS DOUBLE)"
        rank_sum = (
            f"sum((ovr_at_or_above_{i} + ovr_rank_{i}) / 2) FILTER (WHERE y_idx = {i} "
            "AND ps IS NOT NULL)"
        )
        aucs.append(
            f"(({pos} * ({scored} + 1) - {rank_sum} - {pos} * ({pos} + 1) / 2) "
            f"/ NULLIF({pos} * ({scored} - {pos}), 0))"
        )
    return f"({' + '.join(aucs)}) / {len(aucs)}"


# Estimates: the expected confusion matrix of the logged predicted class, each row counting
# as class c with its calibrated probability ps_cal[c].
_EST_PER_CLASS: dict[str, Callable[[int], str]] = {
    "precision": lambda c: f"{_est_tp(c)} / NULLIF({_est_predicted(c)}, 0)",
    "recall": lambda c: f"{_est_tp(c)} / NULLIF({_est_support(c)}, 0)",
    "f1": lambda c: f"2 * {_est_tp(c)} / NULLIF({_est_predicted(c)} + {_est_support(c)}, 0)",
}


def _est_tp(c: int) -> str:
    return f"coalesce(sum(ps_cal[{c}]) FILTER (WHERE yhat_idx = {c}), 0)"


def _est_predicted(c: int) -> str:
    return f"count(ps_cal) FILTER (WHERE yhat_idx = {c})"


def _est_support(c: int) -> str:
    return f"sum(ps_cal[{c}])"


def _est_classes(ctx: Context, term: Callable[[int], str]) -> str:
    """A list literal of one expression per class, for list_avg / list_sum."""
    return "[" + ", ".join(f"({term(c)})" for c in range(1, len(ctx.classes) + 1)) + "]"


def _est_macro(stat: str) -> Callable[[Context], str]:
    """Mean over the classes whose estimate is defined, as the realized `_macro`."""
    return lambda ctx: f"list_avg({_est_classes(ctx, _EST_PER_CLASS[stat])})"


def _est_weighted(stat: str) -> Callable[[Context], str]:
    """Weighted by the expected support, the plain mean when that is 0 (as `_weighted`)."""

    def sql(ctx: Context) -> str:
        value = _EST_PER_CLASS[stat]
        weighted = _est_classes(ctx, lambda c: f"({value(c)}) * {_est_support(c)}")
        weights = _est_classes(
            ctx, lambda c: f"CASE WHEN ({value(c)}) IS NOT NULL THEN {_est_support(c)} END"
        )
        return (
            f"coalesce(list_sum({weighted}) / NULLIF(list_sum({weights}), 0), "
            f"{_est_macro(stat)(ctx)})"
        )

    return sql


def _est_order(i: int) -> str:
    return f"PARTITION BY {{group}} ORDER BY ps_raw[{i}] DESC NULLS LAST"


def _est_ovr_rows(ctx: Context) -> tuple[tuple[str, str], ...]:
    """Per class, the calibrated weight of that class at or above a row, and its tied rows."""
    rows: list[tuple[str, str]] = []
    for i in range(1, len(ctx.classes) + 1):
        order = _est_order(i)
        rows.append((f"est_ovr_at_or_above_{i}", f"sum(ps_cal[{i}]) OVER ({order})"))
        rows.append(
            (f"est_ovr_ties_{i}", f"count(ps_raw) OVER ({order}) - rank() OVER ({order}) + 1")
        )
    return tuple(rows)


def _est_ovr_auc(ctx: Context) -> str:
    """Mean over classes of the binary estimate (`_EST_AUC`) with ps_cal[i] as the weight.

    Tied raw scores of a class are taken to share the row's calibrated value; after the
    renormalization they may differ slightly, so with ties the estimate is approximate there.
    """

    def auc(i: int) -> str:
        return (
            f"sum((1 - ps_cal[{i}]) * (2 * est_ovr_at_or_above_{i} "
            f"- est_ovr_ties_{i} * ps_cal[{i}]) / 2) "
            f"FILTER (WHERE ps_cal IS NOT NULL) "
            f"/ NULLIF(sum(ps_cal[{i}]) * sum(1 - ps_cal[{i}]), 0)"
        )

    return f"list_avg({_est_classes(ctx, auc)})"


def _averaged(stat: str) -> tuple[Metric, Metric]:
    return (
        Metric(
            f"{stat}_macro",
            _M,
            sql=_macro(stat),
            higher_is_better=True,
            bounds=(0.0, 1.0),
            estimate_sql=_est_macro(stat),
        ),
        Metric(
            f"{stat}_weighted",
            _M,
            sql=_weighted(stat),
            higher_is_better=True,
            bounds=(0.0, 1.0),
            estimate_sql=_est_weighted(stat),
        ),
    )


_MULTICLASS = (
    Metric(
        "accuracy",
        _M,
        sql="avg(CAST(y = yhat AS DOUBLE))",
        higher_is_better=True,
        kind="proportion",
        n_sql="count(*)",
        estimate_sql="avg(ps_cal[yhat_idx])",
        estimate_n_sql="count(ps_cal[yhat_idx])",
    ),
    *_averaged("precision"),
    *_averaged("recall"),
    *_averaged("f1"),
    Metric(
        "recall_class_{cls}",
        _M,
        sql=_PER_CLASS["recall"]("{i}"),
        higher_is_better=True,
        kind="proportion",
        n_sql=_support("{i}"),
        per_class=True,
    ),
    Metric(
        "log_loss",
        _M,
        # sklearn 1.9 clips the true class's score to [eps, 1 - eps] and does not renormalize
        # rows whose scores do not sum to 1 (it only warns).
        sql=f"avg(-ln(least(greatest(ps[y_idx], {_CLIP}), 1 - {_CLIP}))) "
        "FILTER (WHERE ps IS NOT NULL)",
        higher_is_better=False,
    ),
    Metric(
        "roc_auc_ovr_macro",
        _M,
        sql=_ovr_auc,
        higher_is_better=True,
        bounds=(0.0, 1.0),
        row_sql=_ovr_rows,
        estimate_sql=_est_ovr_auc,
        estimate_row_sql=_est_ovr_rows,
    ),
)

# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------


def _mean_se(term: str, where: str | None = None) -> str:
    """Standard error of the mean of `term` over the rows `where` keeps (all rows without it):
    sample sd / √n, the normal approximation every mean-shaped regression error's interval
    uses."""
    if where is None:
        return f"stddev_samp({term}) / sqrt(count(*))"
    return f"stddev_samp({term}) FILTER (WHERE {where}) / sqrt(count_if({where}))"


_REGRESSION = (
    Metric(
        "mae",
        _R,
        sql="avg(abs(y - yhat))",
        higher_is_better=False,
        se_sql=_mean_se("abs(y - yhat)"),
        bounds=(0.0, None),
    ),
    Metric(
        "rmse",
        _R,
        sql="sqrt(avg((y - yhat) * (y - yhat)))",
        higher_is_better=False,
        # Delta method on MSE: se(rmse) = se(mse) / (2·rmse).
        se_sql=f"{_mean_se('(y - yhat) * (y - yhat)')} / NULLIF(2 * {{value}}, 0)",
        bounds=(0.0, None),
    ),
    Metric(
        "mape",
        _R,
        # Rows labelled 0 are left out (counted by mape_excluded): their percentage error is
        # infinite, and sklearn's max(|y|, eps) turns them into ~1e15 that swamps every other row.
        sql="avg(abs(y - yhat) / abs(y)) FILTER (WHERE y <> 0)",
        higher_is_better=False,
        se_sql=_mean_se("abs(y - yhat) / abs(y)", where="y <> 0"),
        bounds=(0.0, None),
    ),
    Metric("mape_excluded", _R, sql="count_if(y = 0)", higher_is_better=False),
    Metric(
        "r2",
        _R,
        # Constant labels make r2 undefined (sklearn's force_finite reports 0 or 1).
        sql="CASE WHEN max(y) > min(y) THEN "
        "1 - sum((y - yhat) * (y - yhat)) / (var_pop(y) * count(y)) END",
        higher_is_better=True,
    ),
    Metric("median_ae", _R, sql="median(abs(y - yhat))", higher_is_better=False),
    Metric(
        "mean_error",
        _R,
        # prediction - label: positive means the model over-predicts. Its ideal is 0, not a
        # direction; alerting reads a rise as the regression.
        sql="avg(yhat - y)",
        higher_is_better=False,
        # A bias can have either sign, so the interval is not clipped.
        se_sql=_mean_se("yhat - y"),
    ),
)

# ---------------------------------------------------------------------------------------------
# Ranking (one row per request)
# ---------------------------------------------------------------------------------------------

_RANKING = (
    Metric("precision_at_{k}", _K, sql="avg(hits_{k} / {k})", higher_is_better=True),
    # Requests with no relevant item have no recall and no nDCG: they are left out of the mean.
    Metric("recall_at_{k}", _K, sql="avg(hits_{k} / NULLIF(n_rel, 0))", higher_is_better=True),
    Metric("ndcg_at_{k}", _K, sql="avg(dcg_{k} / NULLIF(idcg_{k}, 0))", higher_is_better=True),
    # The rank of the first relevant item in the whole shown list: one value for every cutoff.
    Metric("mrr", _K, sql="avg(rr)", higher_is_better=True),
    Metric(
        "hit_rate_at_{k}",
        _K,
        sql="avg(CAST(hits_{k} > 0 AS DOUBLE))",
        higher_is_better=True,
        kind="proportion",
        n_sql="count(*)",
    ),
)

METRICS: dict[Task, tuple[Metric, ...]] = {
    _B: _BINARY,
    _M: _MULTICLASS,
    _R: _REGRESSION,
    _K: _RANKING,
}


def metric_direction(task: Task | str, metric: str) -> bool:
    """Whether a larger value is better, so alerting knows which way is a regression."""
    for entry in METRICS.get(Task(task), ()):
        if entry.matches(metric):
            return entry.higher_is_better
    raise KeyError(f"no metric {metric!r} registered for task {Task(task).value!r}")
