"""Each version's metrics on the same rows, and the difference with its confidence interval.

Point values come from the metric registry's SQL (`compute_performance`), so the gate's numbers
are the `performance` table's definitions, overall, per segment value and for the fairness
metrics. The interval of each difference is a bootstrap over the requests (paired when both
versions scored them, `bootstrap`), except for roc_auc, whose interval is DeLong's (`delong`):
exact enough, and the test a reviewer expects for AUCs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist

import duckdb
import numpy as np
import pandas as pd

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.gate import bootstrap, delong
from perf_pipeline.gate.kernels import FAIRNESS, KERNELS, Rows, fairness_gap
from perf_pipeline.gate.pairing import GateInput, rows_of
from perf_pipeline.metrics.performance import ALL, FAIRNESS_GROUPS, NULL_SEGMENT
from perf_pipeline.metrics.registry import metric_direction

__all__ = ["Difference", "compare"]

# The registry groups a whole window as one "day".
_WINDOW_DAY = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Difference:
    """candidate - baseline for one metric in one group, with its interval at `confidence`.

    `worse_by` is the point worsening (in the metric's bad direction; negative: better);
    `worst`/`best` the interval's ends as worsenings."""

    metric: str
    segment_column: str
    segment_value: str
    baseline: float | None
    candidate: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    method: str
    n: int
    higher_is_better: bool

    def _as_worsening(self, value: float | None) -> float | None:
        if value is None:
            return None
        return -value if self.higher_is_better else value

    @property
    def worse_by(self) -> float | None:
        return self._as_worsening(self.difference)

    @property
    def worst(self) -> float | None:
        ends = [self._as_worsening(v) for v in (self.ci_low, self.ci_high)]
        return None if None in ends else max(ends)  # type: ignore[type-var]

    @property
    def best(self) -> float | None:
        ends = [self._as_worsening(v) for v in (self.ci_low, self.ci_high)]
        return None if None in ends else min(ends)  # type: ignore[type-var]

    def as_record(self) -> dict[str, object]:
        return asdict(self) | {"worse_by": self.worse_by}


def _clean(value: object) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]


def point_values(
    con: duckdb.DuckDBPyConnection, model: ModelConfig, frame: pd.DataFrame
) -> dict[tuple[str, str, str], tuple[float | None, int]]:
    """(segment_column, segment_value, metric) -> (value, n), realized, by the registry."""
    from perf_pipeline.metrics.performance import compute_performance

    relation = f"_gate_rows_{id(frame)}"
    con.register(relation, frame.assign(date=_WINDOW_DAY))
    try:
        rows = compute_performance(con, model, relation)
    finally:
        con.unregister(relation)
    rows = rows[~rows["is_estimated"].astype(bool)]
    return {
        (r.segment_column, r.segment_value, r.metric): (_clean(r.value), int(r.n))
        for r in rows.itertuples()
    }


@dataclass(frozen=True)
class _Group:
    """One compared group: a metric over the rows a mask selects, or a fairness gap."""

    metric: str
    column: str
    value: str
    base_mask: np.ndarray
    cand_mask: np.ndarray


def _groups(model: ModelConfig, gi: GateInput, metrics: list[str]) -> list[_Group]:
    """The overall group, each segment value of `model.segments`, and (fairness) each
    protected attribute, for every gated metric."""
    everyone_b = np.ones(len(gi.baseline), bool)
    everyone_c = np.ones(len(gi.candidate), bool)
    groups = [_Group(m, ALL, ALL, everyone_b, everyone_c) for m in metrics]
    for column in model.segments:
        base = gi.baseline[column].fillna(NULL_SEGMENT).to_numpy()
        cand = gi.candidate[column].fillna(NULL_SEGMENT).to_numpy()
        for value in sorted(set(base) | set(cand)):
            groups += [_Group(m, column, value, base == value, cand == value) for m in metrics]
    if model.task is Task.BINARY_CLASSIFICATION:
        for column in model.protected_attributes:
            groups += [_Group(m, column, FAIRNESS_GROUPS, everyone_b, everyone_c) for m in FAIRNESS]
    return groups


def _statistic(
    group: _Group, rows: Rows, mask: np.ndarray, attribute: np.ndarray | None
) -> Callable[[np.ndarray], np.ndarray]:
    if group.metric in FAIRNESS:
        return lambda w: fairness_gap(w, rows, attribute, group.metric)  # type: ignore[arg-type]
    kernel, part = KERNELS[group.metric], rows.subset(mask)
    return lambda w: kernel(w[:, mask], part)


def _attribute(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column].to_numpy(dtype=object)
    return np.array([None if pd.isna(v) else v for v in values], dtype=object)


def _bootstrap(
    model: ModelConfig, gi: GateInput, groups: list[_Group], confidence: dict[str, float]
) -> dict[int, tuple[float, float]]:
    rows_b, rows_c = rows_of(model, gi.baseline), rows_of(model, gi.candidate)
    statistics = {}
    for i, g in enumerate(groups):
        fair = g.metric in FAIRNESS
        attr_b = _attribute(gi.baseline, g.column) if fair else None
        attr_c = _attribute(gi.candidate, g.column) if fair else None
        statistics[str(i)] = (
            _statistic(g, rows_b, g.base_mask, attr_b),
            _statistic(g, rows_c, g.cand_mask, attr_c),
        )
    settings = model.gate
    replicates = bootstrap.differences(
        statistics,
        len(gi.baseline),
        None if gi.paired else len(gi.candidate),
        settings.bootstrap_resamples,
        settings.seed,
    )
    return {
        int(k): bootstrap.percentile_interval(v, confidence.get(groups[int(k)].metric, 0.95))
        for k, v in replicates.items()
    }


def _delong(model: ModelConfig, gi: GateInput, g: _Group, confidence: float) -> tuple[float, float]:
    rows_b = rows_of(model, gi.baseline).subset(g.base_mask)
    rows_c = rows_of(model, gi.candidate).subset(g.cand_mask)
    scored_b, scored_c = ~np.isnan(rows_b.p), ~np.isnan(rows_c.p)
    if gi.paired:
        both = scored_b & scored_c
        result = delong.delong_paired(rows_b.y[both], rows_b.p[both], rows_c.p[both])
    else:
        result = delong.delong_unpaired(
            rows_b.y[scored_b], rows_b.p[scored_b], rows_c.y[scored_c], rows_c.p[scored_c]
        )
    if not np.isfinite(result.se) or not np.isfinite(result.difference):
        return np.nan, np.nan
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    return result.difference - z * result.se, result.difference + z * result.se


def compare(con: duckdb.DuckDBPyConnection, model: ModelConfig, gi: GateInput) -> list[Difference]:
    """Every gated metric overall and per segment value, and every fairness metric per
    protected attribute: both versions' values, the difference and its interval."""
    limits = model.gate.metrics
    confidence = {m: limit.confidence for m, limit in limits.items()}
    fairness_confidence = max(confidence.values(), default=0.95)
    confidence |= {m: fairness_confidence for m in FAIRNESS}
    groups = _groups(model, gi, list(limits))
    if not groups or gi.baseline.empty or gi.candidate.empty:
        return []
    base_points = point_values(con, model, gi.baseline)
    cand_points = point_values(con, model, gi.candidate)
    intervals = _bootstrap(model, gi, groups, confidence)
    out = []
    for i, g in enumerate(groups):
        key = (g.column, g.value, g.metric)
        base, n_b = base_points.get(key, (None, 0))
        cand, n_c = cand_points.get(key, (None, 0))
        method, (low, high) = "bootstrap", intervals[i]
        if g.metric == "roc_auc":
            method, (low, high) = "delong", _delong(model, gi, g, confidence[g.metric])
        difference = None if base is None or cand is None else cand - base
        out.append(
            Difference(
                metric=g.metric,
                segment_column=g.column,
                segment_value=g.value,
                baseline=base,
                candidate=cand,
                difference=difference,
                ci_low=_clean(low),
                ci_high=_clean(high),
                confidence=confidence[g.metric],
                method=f"{method} ({'paired' if gi.paired else 'unpaired'})",
                n=min(n_b, n_c) if gi.paired else n_b + n_c,
                higher_is_better=metric_direction(model.task, g.metric),
            )
        )
    return out
