"""The dashboard's Plotly figures, built from `DashboardData`'s aggregated frames.

Two figures: a timeline (one row per shown metric, then label coverage, volume and quarantine
share, dataset drift share and the alerts, all on one shared, zoomable date axis, with blocked
days shaded across every row) and a feature x day drift heatmap. Hover shows each point's
numbers; dragging across the chart zooms to a period (double-click resets).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from perf_pipeline.dashboard.bounds import metric_bound
from perf_pipeline.dashboard.queries import DATASET_COLUMN, DashboardData
from perf_pipeline.performance_status import FINAL, PROVISIONAL

if TYPE_CHECKING:
    import pandas as pd

REALIZED_COLOR = "#1f77b4"
ESTIMATED_COLOR = "#ff7f0e"
BOUND_COLOR = "#d62728"
REFERENCE_COLOR = "#7f7f7f"
ROW_HEIGHT = 210
_SEVERITY_COLOR = {"critical": "#d62728", "error": "#d62728", "warning": "#ff9f1c"}
_STATS = ("statistic", "p_value", "threshold")
_ALERT_KINDS = ("data_quality", "drift", "performance", "estimated_performance", "freshness")


def _rounded(values, digits: int = 5) -> list:
    """Values with fewer digits (the page's size is mostly numbers), rounded in one vectorized
    step; None for missing."""
    import numpy as np

    array = np.round(np.asarray(list(values), dtype=float), digits)
    return [None if v != v else v for v in array.tolist()]


def _days(values) -> list[str]:
    """ISO days, converted in one vectorized step (DuckDB DATEs come back as timestamps)."""
    import numpy as np

    return np.datetime_as_string(np.asarray(values, dtype="datetime64[D]"), unit="D").tolist()


def _line(x, y, name: str, group: str, first: bool, **style: Any) -> dict:
    return dict(type="scatter", x=x, y=y, name=name, legendgroup=group, showlegend=first, **style)


def _interval(rows: pd.DataFrame, name: str, group: str, color: str, first: bool) -> list[dict]:
    """A shaded confidence band: the high edge, then the low edge filled up to it."""
    x = _days(rows["date"])
    edge = dict(mode="lines", line=dict(width=0, color=color), hoverinfo="skip")
    return [
        _line(x, _rounded(rows["ci_high"]), name, group, False, **edge),
        _line(
            x,
            _rounded(rows["ci_low"]),
            name,
            group,
            first,
            fill="tonexty",
            opacity=0.2,
            fillcolor=_fade(color),
            **edge,
        ),
    ]


def _fade(color: str, alpha: float = 0.18) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _values(
    rows: pd.DataFrame, metric: str, label: str, group: str, color: str, first: bool, **style: Any
) -> dict:
    custom = [
        [_count(n), lo, hi]
        for n, lo, hi in zip(
            rows["n"], _rounded(rows["ci_low"]), _rounded(rows["ci_high"]), strict=True
        )
    ]
    return _line(
        _days(rows["date"]),
        _rounded(rows["value"]),
        label,
        group,
        first,
        line=dict(color=color),
        customdata=custom,
        hovertemplate=f"%{{x}}<br>{metric} {label}: %{{y:.4f}}<br>n=%{{customdata[0]}}"
        "<br>95% CI %{customdata[1]:.4f} - %{customdata[2]:.4f}<extra></extra>",
        **style,
    )


def _count(value) -> int | None:
    return None if value is None or value != value else int(value)


def metric_traces(data: DashboardData, metric: str, first: bool) -> list[dict]:
    """Bounds, reference, realized (final and provisional) and estimated values with their
    intervals, and the metric's alerts as red crosses."""
    rows = data.series[data.series["metric"] == metric]
    realized, estimated = (
        rows[~rows["is_estimated"].astype(bool)],
        rows[rows["is_estimated"].astype(bool)],
    )
    traces = _bound_traces(data, metric, rows, first)
    traces += _interval(realized, "realized 95% CI", "realized_ci", REALIZED_COLOR, first)
    traces += _interval(estimated, "estimated 95% CI", "estimated_ci", ESTIMATED_COLOR, first)
    lines = (
        ("final", realized[realized["status"] == FINAL], REALIZED_COLOR,
         dict(mode="lines+markers", marker=dict(size=4))),
        ("provisional", realized[realized["status"] == PROVISIONAL], REALIZED_COLOR,
         dict(mode="markers", marker=dict(size=6, symbol="circle-open"))),
        ("estimated", estimated, ESTIMATED_COLOR, dict(mode="lines", line_dash="dash")),
    )  # fmt: skip
    for label, frame, color, style in lines:
        traces.append(_values(frame, metric, label, label, color, first, **style))
    traces.append(_alert_marks(data, metric, first))
    return traces


def _bound_traces(data: DashboardData, metric: str, rows: pd.DataFrame, first: bool) -> list[dict]:
    days = rows.drop_duplicates("date").sort_values("date")
    threshold = data.model.thresholds.get(metric)
    bounds = [metric_bound(data.model, metric, threshold, _number(r)) for r in days["reference"]]
    x = _days(days["date"])
    traces = [
        _line(
            x,
            _rounded(days["reference"]),
            "reference",
            "reference",
            first,
            mode="lines",
            line=dict(color=REFERENCE_COLOR, dash="dot", width=1),
            hovertemplate=f"%{{x}}<br>{metric} reference: %{{y:.4f}}<extra></extra>",
        )
    ]
    for side in ("low", "high"):
        edge = [getattr(b, side) for b in bounds]
        if any(v is not None for v in edge):
            legend = first and not any(t["legendgroup"] == "bound" for t in traces)
            traces.append(
                _line(
                    x,
                    _rounded(edge),
                    "alert bound",
                    "bound",
                    legend,
                    mode="lines",
                    line=dict(color=BOUND_COLOR, dash="dash", width=1),
                    hovertemplate=f"%{{x}}<br>{metric} {side} bound: %{{y:.4f}}<extra></extra>",
                )
            )
    return traces


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)


def _alert_marks(data: DashboardData, metric: str, first: bool) -> dict:
    alerts = data.alerts[
        (data.alerts["metric_or_column"] == metric)
        & data.alerts["kind"].isin(["performance", "estimated_performance"])
    ]
    return _line(
        _days(alerts["date"]),
        _rounded(alerts["value"]),
        "alert",
        "alert",
        first,
        mode="markers",
        marker=dict(symbol="x", size=10, color=BOUND_COLOR),
        text=[f"{k}: {m}" for k, m in zip(alerts["kind"], alerts["message"], strict=True)],
        hovertemplate="%{text}<extra></extra>",
    )


def coverage_traces(data: DashboardData) -> list[dict]:
    c = data.coverage
    return [
        _line(
            _days(c["date"]),
            _rounded(c["coverage"]),
            "label coverage",
            "coverage",
            True,
            mode="lines",
            line=dict(color="#2ca02c"),
            hovertemplate="%{x}<br>labelled: %{y:.1%}<extra></extra>",
        )
    ]


def _row_bars(x: list[str], counts, what: str, color: str) -> dict:
    """One bar a day of a row count (`what`: accepted, quarantined)."""
    return dict(
        type="bar",
        x=x,
        y=[_count(n) for n in counts],
        name=f"{what} rows",
        marker=dict(color=color),
        hovertemplate=f"%{{x}}<br>{what}: %{{y:,}}<extra></extra>",
    )


def volume_traces(data: DashboardData) -> list[dict]:
    v = data.volume
    x = _days(v["date"])
    return [
        _row_bars(x, v["accepted"], "accepted", "#9ecae1"),
        _row_bars(x, v["quarantined"], "quarantined", "#e6550d"),
        dict(
            type="scatter",
            x=x,
            y=_rounded(v["quarantine_share"]),
            name="quarantine share",
            mode="lines",
            line=dict(color="#e6550d", width=1),
            yaxis="SECONDARY",
            hovertemplate="%{x}<br>quarantined: %{y:.2%}<extra></extra>",
        ),
    ]


def drift_share_traces(data: DashboardData) -> list[dict]:
    d = data.drift[data.drift["column"] == DATASET_COLUMN]
    return [
        _line(
            _days(d["date"]),
            _rounded(d["statistic"]),
            "share of drifted columns",
            "drift_share",
            True,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color="#9467bd"),
            hovertemplate="%{x}<br>drifted columns: %{y:.0%}<extra></extra>",
        ),
        _line(
            _days(d["date"]),
            _rounded(d["threshold"]),
            "dataset drift threshold",
            "bound",
            False,
            mode="lines",
            line=dict(color=BOUND_COLOR, dash="dash", width=1),
            hovertemplate="%{x}<br>dataset drift at %{y:.0%}<extra></extra>",
        ),
    ]


def alert_traces(data: DashboardData) -> list[dict]:
    """Every alert on the timeline, one row per kind, coloured by severity."""
    a = data.alerts
    return [
        dict(
            type="scatter",
            x=_days(a["date"]),
            y=list(a["kind"]),
            mode="markers",
            name="alerts",
            showlegend=False,
            text=list(a["message"]),
            marker=dict(
                symbol="diamond",
                size=9,
                color=[_SEVERITY_COLOR.get(s, "#555") for s in a["severity"]],
            ),
            hovertemplate="%{x} %{y}<br>%{text}<extra></extra>",
        )
    ]


def blocked_shapes(data: DashboardData) -> list[dict]:
    """A grey column over every row of the timeline on each day the gate blocked."""
    shapes = []
    for day in data.blocked["date"]:
        start = dt.datetime.fromisoformat(_days([day])[0])
        shapes.append(
            dict(
                type="rect",
                xref="x",
                yref="paper",
                y0=0,
                y1=1,
                line=dict(width=0),
                x0=(start - dt.timedelta(hours=12)).isoformat(),
                x1=(start + dt.timedelta(hours=12)).isoformat(),
                fillcolor="rgba(80,80,80,0.18)",
                layer="below",
            )
        )
    return shapes


def _domains(heights: list[float], gap: float) -> list[tuple[float, float]]:
    """Paper-fraction y domains, top row first, for rows of the given relative heights."""
    total = sum(heights) + gap * (len(heights) - 1)
    top, domains = 1.0, []
    for h in heights:
        bottom = top - h / total
        domains.append((max(bottom, 0.0), top))
        top = bottom - gap / total
    return domains


def timeline_figure(data: DashboardData) -> dict:
    """Every timeline row on one shared date axis (zooming one zooms all)."""
    rows: list[tuple[str, list[dict], float]] = [
        (metric, metric_traces(data, metric, first=i == 0), 1.0)
        for i, metric in enumerate(data.metrics)
    ]
    rows += [
        ("label coverage", coverage_traces(data), 0.6),
        ("daily volume (bars) and quarantine share (line)", volume_traces(data), 0.8),
        ("share of drifted columns", drift_share_traces(data), 0.7),
        ("alerts", alert_traces(data), 0.6),
    ]
    domains = _domains([h for _, _, h in rows], gap=0.25)
    layout: dict[str, Any] = _timeline_layout(len(rows), sum(h for _, _, h in rows))
    traces: list[dict] = []
    annotations = []
    for i, ((title, row_traces, _), domain) in enumerate(zip(rows, domains, strict=True), 1):
        axis = f"y{i}" if i > 1 else "y"
        layout[f"yaxis{i}" if i > 1 else "yaxis"] = dict(domain=domain, anchor="x", automargin=True)
        for trace in row_traces:
            trace["xaxis"] = "x"
            if trace.pop("yaxis", None) == "SECONDARY":
                trace["yaxis"] = "y99"
                layout["yaxis99"] = dict(
                    overlaying=axis,
                    side="right",
                    tickformat=".1%",
                    rangemode="tozero",
                    showgrid=False,
                )
            else:
                trace["yaxis"] = axis
            traces.append(trace)
        annotations.append(
            dict(
                text=f"<b>{title}</b>",
                xref="paper",
                yref="paper",
                x=0,
                y=domain[1],
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=12),
            )
        )
    first_shared = len(data.metrics) + 1  # coverage, volume, drift share, alerts follow
    _axis(layout, first_shared).update(tickformat=".0%", range=[0, 1.05])
    _axis(layout, first_shared + 2).update(tickformat=".0%", rangemode="tozero")
    _axis(layout, first_shared + 3).update(type="category", categoryarray=list(_ALERT_KINDS))
    layout["annotations"] = annotations
    layout["shapes"] = blocked_shapes(data)
    return {"data": traces, "layout": layout}


def _axis(layout: dict[str, Any], row: int) -> dict[str, Any]:
    return layout["yaxis" if row == 1 else f"yaxis{row}"]


def _timeline_layout(row_count: int, relative_height: float) -> dict[str, Any]:
    return dict(
        height=int(ROW_HEIGHT * relative_height + 160),
        margin=dict(l=60, r=60, t=40, b=40),
        hovermode="closest",
        barmode="stack",
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0.2),
        xaxis=dict(
            type="date",
            anchor=f"y{row_count}",
        ),
    )


def _yes_no(flag) -> str:
    """`yes` for a true flag; `no` for false and for any missing value (None, NaN, pd.NA)."""
    import pandas as pd

    return "yes" if not pd.isna(flag) and bool(flag) else "no"


def _heatmap_grid(cells: pd.DataFrame, order: list[str], days: list[str]) -> tuple[list, list]:
    """PSI per (column, day) and each cell's hover values, rows in `order`, a gap (None) for a
    day without a row."""
    grids = {
        name: cells.pivot(index="column", columns="day", values=name)
        .reindex(index=order, columns=days)
        .to_numpy()
        for name in ("psi", "method", "statistic", "p_value", "threshold", "drifted")
    }
    custom = [
        [
            [
                grids["method"][i][j],
                *_rounded([grids[k][i][j] for k in _STATS], 4),
                _yes_no(grids["drifted"][i][j]),
            ]
            for j in range(len(days))
        ]
        for i in range(len(order))
    ]
    return [_rounded(row, 4) for row in grids["psi"]], custom


def drift_heatmap(data: DashboardData) -> dict | None:
    """Feature x day, coloured by PSI (one scale for every column), crosses on the cells the
    column's own method called drifted; hover gives the method, statistic and p-value."""
    cells = data.drift[data.drift["column"] != DATASET_COLUMN]
    if cells.empty:
        return None
    counts = cells.assign(d=cells["drifted"].fillna(False).astype(int)).groupby("column")["d"]
    order = counts.sum().sort_values(kind="stable").index.tolist()
    cells = cells.assign(day=_days(cells["date"]))
    days = sorted(set(cells["day"]))
    z, custom = _heatmap_grid(cells, order, days)
    marked = cells[cells["drifted"].fillna(False).astype(bool)]
    marks_x, marks_y = list(marked["day"]), list(marked["column"])
    heatmap = dict(
        type="heatmap",
        x=days,
        y=order,
        z=z,
        customdata=custom,
        zmin=0,
        zmax=0.3,
        colorscale="YlOrRd",
        reversescale=True,  # Plotly names this scale from its red end
        colorbar=dict(title="PSI"),
        xgap=0,
        ygap=1,
        hovertemplate="%{y} %{x}<br>PSI %{z:.3f}<br>%{customdata[0]}: %{customdata[1]:.4g}"
        " (p %{customdata[2]:.3g}; threshold %{customdata[3]:.3g})<br>"
        "drifted: %{customdata[4]}<extra></extra>",
    )
    marks = dict(
        type="scatter",
        x=marks_x,
        y=marks_y,
        mode="markers",
        name="drifted",
        marker=dict(symbol="x-thin-open", size=6, color="#222"),
        hoverinfo="skip",
    )
    layout = dict(
        height=max(260, 22 * len(order) + 140),
        margin=dict(l=140, r=30, t=30, b=40),
        xaxis=dict(type="date"),
        yaxis=dict(type="category", automargin=True),
        showlegend=True,
        legend=dict(orientation="h", y=1.02, yanchor="bottom"),
    )
    return {"data": [heatmap, marks], "layout": layout}
