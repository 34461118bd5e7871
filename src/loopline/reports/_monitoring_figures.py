"""The monitoring report's Plotly figures: drift effects, shares, quality issues, performance with its estimate,
latency, fallbacks and traffic, one point per period (:mod:`loopline.reports._monitoring` places them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.colors
import plotly.graph_objects as go

from loopline.monitoring import ColumnDrift, Findings
from loopline.reports._format import is_number, metric_label
from loopline.reports._plotly import ACCENT_COLOR, MODEL_COLOR, REFERENCE_COLOR, base_layout

MAX_LINES = 10
"""Features drawn per drift chart (those that drifted, then the largest effects); all are in the table."""
PALETTE = plotly.colors.qualitative.D3
_EFFECT = {"wasserstein_norm": "Wasserstein / reference std", "jensen_shannon": "Jensen-Shannon distance",
           "new_share": "share of new categories"}
_DRIFTED_MARKER = {"symbol": "diamond", "size": 12, "line": {"color": "#111827", "width": 1.5}}


def _layout(fig: go.Figure, title: str, y_title: str, height: int = 380) -> None:
    """The shared layout, with the periods as categories on the x axis (labels as printed in the tables),
    padded by half a period on each side so the first and last labels clear the axes."""
    periods = max((len(t.x) for t in fig.data if t.x is not None and t.x[0] is not None), default=1)
    fig.update_layout(**base_layout(title=title, x_title="period", y_title=y_title, height=height))
    fig.update_xaxes(type="category", range=[-0.5, periods - 0.5])

def _effect_name(c: ColumnDrift) -> str:
    """The effect statistic drawn over time: Wasserstein / std for numbers, Jensen-Shannon for categories."""
    for key in ("jensen_shannon", "wasserstein_norm"):
        if key in c.statistics:
            return key
    return "jensen_shannon" if c.kind in ("categorical", "boolean") else "wasserstein_norm"

def _series_marker(drifted: list[bool], color: str) -> dict[str, Any]:
    return {"color": color, "symbol": ["diamond" if d else "circle" for d in drifted],
            "size": [12 if d else 6 for d in drifted],
            "line": {"color": ["#111827" if d else color for d in drifted], "width": 1.5}}

def _effects_figure(xs: list[Any], by_period: list[dict[str, ColumnDrift]], names: list[str], key: str,
                    title: str) -> go.Figure:
    def peak(n: str) -> tuple[bool, float]:
        cells = [p[n] for p in by_period if n in p]
        values = [float(v) for c in cells if (v := c.statistics.get(key)) is not None and is_number(v)]
        return any(c.drifted for c in cells), max(values, default=0.0)

    ranked = sorted(names, key=lambda n: peak(n), reverse=True)[:MAX_LINES]
    fig = go.Figure()
    for i, n in enumerate(n for n in names if n in ranked):
        cells = [p.get(n) for p in by_period]
        ys = [None if c is None else c.statistics.get(key) for c in cells]
        drifted = [c is not None and c.drifted for c in cells]
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=n, line={"color": color, "width": 2},
            marker=_series_marker(drifted, color), customdata=["drifted" if d else "not drifted" for d in drifted],
            hovertemplate=f"%{{fullData.name}}<br>%{{x}}<br>{_EFFECT[key]} %{{y:.4f}}<br>%{{customdata}}"
                          "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="drifted in that period",
                             marker={**_DRIFTED_MARKER, "color": "#ffffff"}, hoverinfo="skip"))
    if len(names) > len(ranked):
        title += f" ({len(ranked)} of {len(names)}: drifted first, then the largest)"
    _layout(fig, title, _EFFECT[key], height=max(360, 140 + 24 * (len(ranked) + 1)))
    fig.update_layout(legend={"orientation": "v", "x": 1.02, "y": 1.0, "yanchor": "top"},
                      margin={"l": 60, "r": 20, "t": 48, "b": 48})
    fig.update_yaxes(rangemode="tozero")
    return fig

def _share_figure(xs: list[Any], timeline: Sequence[Findings]) -> go.Figure:
    shares = [f.drift.share for f in timeline]
    counts = [f"{sum(c.drifted for c in f.drift.features)} of {len(f.drift.features)}" for f in timeline]
    fig = go.Figure(go.Bar(
        x=xs, y=shares, marker={"color": [ACCENT_COLOR if f.drift.drift_detected else MODEL_COLOR for f in timeline]},
        customdata=counts, text=counts if len(timeline) <= 12 else None, textposition="outside", cliponaxis=False,
        name="drifted features",
        hovertemplate="%{x}<br>%{customdata} features drifted (%{y:.0%})<extra></extra>"))
    _layout(fig, "Share of features drifted", "share of tested features")
    fig.update_layout(showlegend=False)
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%")
    return fig

def _prediction_figure(xs: list[Any], timeline: Sequence[Findings]) -> go.Figure:
    fig = go.Figure()
    measures: list[str] = []
    for attr, color in (("prediction", MODEL_COLOR), ("label", REFERENCE_COLOR)):
        cells: list[ColumnDrift | None] = [getattr(f.drift, attr) for f in timeline]
        if all(c is None for c in cells):
            continue
        ys = [None if c is None else c.statistics.get(_effect_name(c)) for c in cells]
        drifted = [c is not None and c.drifted for c in cells]
        what = next(_EFFECT[_effect_name(c)] for c in cells if c is not None)
        measures.append(what)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{attr} ({what})",
                                 line={"color": color, "width": 2}, marker=_series_marker(drifted, color),
                                 customdata=["drifted" if d else "not drifted" for d in drifted],
                                 hovertemplate=f"{attr}<br>%{{x}}<br>{what} %{{y:.4f}}<br>%{{customdata}}"
                                               "<extra></extra>"))
    _layout(fig, "Prediction drift", measures[0] if len(set(measures)) == 1 else "effect size")
    fig.update_yaxes(rangemode="tozero")
    return fig

def _issues_figure(xs: list[Any], timeline: Sequence[Findings]) -> go.Figure:
    checks = list(dict.fromkeys(i.check for f in timeline for i in f.quality.issues))
    fig = go.Figure()
    for k, check in enumerate(checks):
        fig.add_trace(go.Bar(x=xs, y=[sum(i.check == check for i in f.quality.issues) for f in timeline],
                             name=check.replace("_", " "), marker_color=PALETTE[k % len(PALETTE)]))
    _layout(fig, "Data-quality issues per period", "issues", height=300)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(dtick=1, rangemode="tozero")
    return fig

def _errors(values: list[Any]) -> dict[str, Any]:
    def gap(v: Any, side: str) -> float | None:
        bound = None if v is None else getattr(v, side)
        return None if bound is None else abs(bound - v.value)

    return {"type": "data", "symmetric": False, "array": [gap(v, "high") for v in values],
            "arrayminus": [gap(v, "low") for v in values], "color": MODEL_COLOR, "thickness": 1.5, "width": 4}

def _metric_figure(known: list[tuple[Any, Any]], metric: str) -> go.Figure:
    xs = [x for x, _ in known]
    realised = [p.realised.get(metric) for _, p in known]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=[None if v is None else v.value for v in realised], mode="lines+markers",
                             name="realised (95% interval)", line={"color": MODEL_COLOR, "width": 2.5},
                             error_y=_errors(realised), connectgaps=False))
    fig.add_trace(go.Scatter(x=xs, y=[p.estimated.get(metric) for _, p in known], mode="lines+markers",
                             name="estimate from the scores", line={"color": ACCENT_COLOR, "width": 2, "dash": "dash"},
                             marker={"symbol": "circle-open", "size": 8}))
    _layout(fig, f"{metric_label(metric)} per period", metric_label(metric))
    return fig

def _calibration_figure(known: list[tuple[Any, Any]]) -> go.Figure:
    ratios = [p.calibration_ratio for _, p in known]
    fig = go.Figure(go.Scatter(x=[x for x, _ in known], y=[None if r is None else r.value for r in ratios],
                               mode="markers", name="calibration ratio", marker={"color": MODEL_COLOR, "size": 9},
                               error_y=_errors(ratios)))
    fig.add_hline(y=1.0, line={"color": REFERENCE_COLOR, "dash": "dash"})
    _layout(fig, "Calibration ratio per period", "sum of scores / sum of labels")
    fig.update_layout(showlegend=False)
    return fig

def _latency_figure(known: list[tuple[Any, Any]]) -> go.Figure:
    fig = go.Figure()
    for key, color, dash in (("p50", MODEL_COLOR, "solid"), ("p95", "#f59e0b", "dash"), ("p99", ACCENT_COLOR, "dot")):
        fig.add_trace(go.Scatter(x=[x for x, _ in known], y=[hp.latency_ms.get(key) for _, hp in known],
                                 mode="lines+markers", name=key, line={"color": color, "dash": dash, "width": 2}))
    _layout(fig, "Latency per period", "ms")
    fig.update_yaxes(rangemode="tozero")
    return fig

def _fallback_figure(known: list[tuple[Any, Any]]) -> go.Figure:
    fig = go.Figure(go.Bar(x=[x for x, _ in known], y=[hp.fallback_share for _, hp in known], marker_color=MODEL_COLOR,
                           hovertemplate="%{x}<br>%{y:.2%} of requests<extra></extra>"))
    _layout(fig, "Fallback share per period", "share of requests")
    fig.update_layout(showlegend=False)
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    return fig

def _traffic_figure(known: list[tuple[Any, Any]]) -> go.Figure:
    arms = list(dict.fromkeys(arm for _, hp in known for arm in hp.traffic))
    fig = go.Figure()
    for k, arm in enumerate(arms):
        fig.add_trace(go.Bar(x=[x for x, _ in known], y=[hp.traffic.get(arm, 0) for _, hp in known], name=arm,
                             marker_color=PALETTE[k % len(PALETTE)]))
    _layout(fig, "Requests per arm", "requests")
    fig.update_layout(barmode="stack")
    return fig
