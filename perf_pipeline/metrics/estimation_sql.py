"""The SQL that feeds confidence-based estimates: calibrated scores and sampling-error units.

`performance_sql` takes, per day (or one for every day, under the key `None`), a
`DayCalibration`: a monotone piecewise-linear curve per score column (what isotonic regression
fitted on the reference, `perf_pipeline.estimation.calibration`) and, per estimated metric, the
reference's sampling-error unit. This module turns them into

- a source wrapper that adds one calibrated column per score column, `__pp_cal_<i>`, by an ASOF
  join on the curve's breakpoints: the breakpoint at or below the score and the next one, then
  linear interpolation between them, which is exactly `np.interp` (and so sklearn's
  `IsotonicRegression(out_of_bounds="clip").predict`). A join, not a CASE over breakpoints, so
  its cost does not grow with the number of breakpoints (about 0.1 s per million rows);
- the `estimate_se` relation the final step reads each estimate's interval from.

Curves and units travel as bound list parameters, never as SQL text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from perf_pipeline.sql import quote_identifier

__all__ = ["DayCalibration", "calibrated_source", "estimate_se_sql"]

# A sentinel breakpoint below every score, so a score under the first breakpoint takes its
# value (np.interp's left clip) and "no row matched" can only mean "no curve for this day".
_BELOW_ALL = -1.0e308


@dataclass(frozen=True)
class DayCalibration:
    """What the estimates of one day (or of every day) use.

    `curves` maps a score column to its calibration as breakpoints `(x, y)`, x increasing; a
    column without a curve is used as it is. `se_units` maps an estimated metric to the
    standard deviation its realized value shows between reference chunks, times the square root
    of the chunk size: a day of n rows gets the interval estimate ± z·se_unit/√n.
    """

    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)
    se_units: Mapping[str, float] = field(default_factory=dict)


Calibrations = Mapping[dt.date | None, DayCalibration]


def _per_day(calibrations: Calibrations) -> bool:
    return any(day is not None for day in calibrations)


def calibrated_source(
    source: str,
    score_columns: Sequence[str],
    calibrations: Calibrations | None,
    params: dict[str, object],
) -> tuple[str, dict[str, str]]:
    """`source` with a calibrated copy of each curved score column, and which column holds it.

    Returns the wrapped relation and `{score column: calibrated column}`; both unchanged when no
    day has a curve, so a model without a calibration costs nothing.
    """
    curved = [
        col
        for col in score_columns
        if calibrations and any(col in c.curves for c in calibrations.values())
    ]
    if not curved or calibrations is None:
        return source, {}
    days, cols, xs, ys = [], [], [], []
    for day, calibration in calibrations.items():
        for i, col in enumerate(curved):
            x, y = calibration.curves.get(col) or ((0.0, 1.0), (0.0, 1.0))
            points = [(_BELOW_ALL, float(y[0])), *zip(map(float, x), map(float, y), strict=True)]
            for px, py in points:
                days.append(day)
                cols.append(i)
                xs.append(px)
                ys.append(py)
    params |= {"cal_day": days, "cal_col": cols, "cal_x": xs, "cal_y": ys}
    curves = (
        "(SELECT day, col, x, y, lead(x) OVER w AS x1, lead(y) OVER w AS y1 FROM ("
        "SELECT unnest(CAST($cal_day AS DATE[])) AS day, unnest($cal_col) AS col, "
        "unnest(CAST($cal_x AS DOUBLE[])) AS x, unnest(CAST($cal_y AS DOUBLE[])) AS y) "
        "WINDOW w AS (PARTITION BY day, col ORDER BY x))"
    )
    joins, selected, names = [], [], {}
    for i, col in enumerate(curved):
        score = f"CAST(__s.{quote_identifier(col)} AS DOUBLE)"
        on = f"{score} >= __c{i}.x"
        if _per_day(calibrations):
            on = f"CAST(__s.{quote_identifier('date')} AS DATE) = __c{i}.day AND {on}"
        joins.append(f"ASOF LEFT JOIN (SELECT * FROM {curves} WHERE col = {i}) AS __c{i} ON {on}")
        c = f"__c{i}"
        # No matching curve row: no curve for that day, the score is used as it is.
        selected.append(
            f"CASE WHEN {score} IS NULL THEN NULL WHEN {c}.x IS NULL THEN {score} "
            f"WHEN {c}.x1 IS NULL OR {c}.y1 = {c}.y THEN {c}.y "
            f"ELSE {c}.y + ({c}.y1 - {c}.y) * ({score} - {c}.x) / ({c}.x1 - {c}.x) END "
            f"AS __pp_cal_{i}"
        )
        names[col] = f"__pp_cal_{i}"
    wrapped = f"(SELECT __s.*, {', '.join(selected)} FROM {source} AS __s {' '.join(joins)})"
    return wrapped, names


def estimate_se_sql(calibrations: Calibrations | None, params: dict[str, object]) -> str | None:
    """The `estimate_se(day, metric, se_unit)` relation, or None when no unit is known."""
    if not calibrations:
        return None
    days, metrics, units = [], [], []
    for day, calibration in calibrations.items():
        for metric, unit in calibration.se_units.items():
            if unit is not None and unit == unit:  # not NaN
                days.append(day)
                metrics.append(metric)
                units.append(float(unit))
    if not units:
        return None
    params |= {"se_day": days, "se_metric": metrics, "se_unit": units}
    return (
        "SELECT unnest(CAST($se_day AS DATE[])) AS day, unnest(CAST($se_metric AS VARCHAR[])) "
        "AS metric, unnest(CAST($se_unit AS DOUBLE[])) AS se_unit"
    )
