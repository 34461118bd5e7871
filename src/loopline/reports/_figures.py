"""The report's Plotly figures. Each one draws numbers it is given; none computes a metric."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from loopline.evaluation import Curve, TimePoint
from loopline.reports._format import fmt_number, fmt_rate, is_number, metric_label
from loopline.reports._plotly import ACCENT_COLOR, MODEL_COLOR, REFERENCE_COLOR, base_layout

_CHANCE = {"color": REFERENCE_COLOR, "dash": "dash", "width": 1.5}


def _hover_thresholds(curve: Curve) -> list[float] | None:
    if curve.thresholds is not None and len(curve.thresholds) == len(curve.x):
        return list(curve.thresholds)
    return None


def roc_figure(curve: Curve, *, model: str, auc: float | None = None) -> go.Figure:
    """ROC curve (x = false positive rate, y = true positive rate) with the chance diagonal."""
    name = model if auc is None or not is_number(auc) else f"{model} (AUC {fmt_number(auc)})"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_CHANCE, name="chance", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=curve.x, y=curve.y, mode="lines", name=name, line={"color": MODEL_COLOR, "width": 2.5},
        customdata=_hover_thresholds(curve),
        hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}"
        + ("<br>threshold %{customdata:.4f}" if _hover_thresholds(curve) else "") + "<extra></extra>",
    ))
    fig.update_layout(base_layout(title="ROC curve", x_title="false positive rate", y_title="true positive rate"))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def pr_figure(curve: Curve, *, model: str, base_rate: float | None = None, pr_auc: float | None = None) -> go.Figure:
    """Precision-recall curve (x = recall, y = precision); the label rate is the no-skill line."""
    name = model if pr_auc is None or not is_number(pr_auc) else f"{model} (PR AUC {fmt_number(pr_auc)})"
    fig = go.Figure()
    if base_rate is not None and is_number(base_rate):
        fig.add_trace(go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", line=_CHANCE,
                                 name=f"no skill (label rate {fmt_rate(base_rate)})", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=curve.x, y=curve.y, mode="lines", name=name, line={"color": MODEL_COLOR, "width": 2.5},
        customdata=_hover_thresholds(curve),
        hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}"
        + ("<br>threshold %{customdata:.4f}" if _hover_thresholds(curve) else "") + "<extra></extra>",
    ))
    fig.update_layout(base_layout(title="Precision-recall curve", x_title="recall", y_title="precision"))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def reliability_figure(curve: Curve, *, model: str) -> go.Figure:
    """Reliability diagram: observed rate against mean predicted probability per bin, with the
    diagonal of perfect calibration; bin counts as marker size and as bars underneath."""
    counts = list(curve.counts) if curve.counts is not None and len(curve.counts) == len(curve.x) else None
    fig = make_subplots(rows=2 if counts else 1, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.74, 0.26] if counts else [1.0])
    top = max(1.0, *(v for v in [*curve.x, *curve.y] if is_number(v)))
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line=_CHANCE, name="perfectly calibrated",
                             hoverinfo="skip"), row=1, col=1)
    biggest = max(counts) if counts else 0
    sizes = [7 + 15 * math.sqrt(c / biggest) for c in counts] if counts and biggest > 0 else 9
    fig.add_trace(go.Scatter(
        x=curve.x, y=curve.y, mode="lines+markers", name=model, line={"color": MODEL_COLOR, "width": 2},
        marker={"size": sizes, "color": MODEL_COLOR, "line": {"color": "white", "width": 1}},
        customdata=counts,
        hovertemplate="mean predicted %{x:.3f}<br>observed rate %{y:.3f}"
        + ("<br>rows %{customdata:,}" if counts else "") + "<extra></extra>",
    ), row=1, col=1)
    if counts:
        fig.add_trace(go.Bar(x=curve.x, y=counts, name="rows per bin", marker={"color": REFERENCE_COLOR},
                             hovertemplate="mean predicted %{x:.3f}<br>rows %{y:,}<extra></extra>",
                             showlegend=False), row=2, col=1)
    fig.update_layout(base_layout(title="Reliability (calibration)", x_title="", y_title="", height=460))
    fig.update_xaxes(range=[0, top], row=1, col=1)
    fig.update_yaxes(title_text="observed rate", range=[0, top], row=1, col=1)
    fig.update_xaxes(title_text="mean predicted probability", row=2 if counts else 1, col=1)
    if counts:
        fig.update_xaxes(range=[0, top], row=2, col=1)
        fig.update_yaxes(title_text="rows", row=2, col=1)
    return fig


def cost_figure(curve: Curve, *, threshold: float | None) -> go.Figure:
    """Expected cost per row against the decision threshold, the chosen threshold marked."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines", name="expected cost per row",
                             line={"color": MODEL_COLOR, "width": 2.5},
                             hovertemplate="threshold %{x:.3f}<br>cost per row %{y:.4f}<extra></extra>"))
    fig.update_layout(base_layout(title="Expected cost by decision threshold", x_title="decision threshold",
                                  y_title="expected cost per row"))
    if threshold is not None and is_number(threshold):
        fig.add_vline(x=threshold, line={"color": ACCENT_COLOR, "dash": "dot", "width": 2},
                      annotation_text=f"chosen threshold {fmt_number(threshold)}",
                      annotation_position="top right", annotation_font_color=ACCENT_COLOR)
    return fig


def importance_figure(importance: Sequence[tuple[str, float]], *, top: int = 20) -> go.Figure:
    """Horizontal bars of the ``top`` features by absolute importance, largest at the top."""
    ranked = sorted((item for item in importance if is_number(item[1])), key=lambda item: -abs(item[1]))[:top]
    ranked.reverse()
    fig = go.Figure(go.Bar(
        x=[v for _, v in ranked], y=[n for n, _ in ranked], orientation="h",
        marker={"color": [MODEL_COLOR if v >= 0 else ACCENT_COLOR for _, v in ranked]},
        hovertemplate="%{y}: %{x:.4g}<extra></extra>",
    ))
    title = f"Feature importance (top {len(ranked)})" if len(importance) > len(ranked) else "Feature importance"
    fig.update_layout(base_layout(title=title, x_title="importance", y_title="",
                                  height=max(240, 90 + 24 * len(ranked))))
    fig.update_layout(showlegend=False, margin={"l": 20})
    fig.update_yaxes(automargin=True)
    return fig


def over_time_figure(points: Sequence[TimePoint], *, metric: str, overall: float | None = None) -> go.Figure:
    """The primary metric per period of the evaluated window; the overall value as a dotted line."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p.start for p in points], y=[p.value for p in points], mode="lines+markers", name=metric_label(metric),
        line={"color": MODEL_COLOR, "width": 2.5}, customdata=[p.rows for p in points],
        hovertemplate="from %{x}<br>" + metric_label(metric) + " %{y:.4f}<br>rows %{customdata:,}<extra></extra>",
    ))
    if overall is not None and is_number(overall):
        fig.add_hline(y=overall, line={"color": REFERENCE_COLOR, "dash": "dot", "width": 1.5},
                      annotation_text=f"whole split {fmt_number(overall)}", annotation_position="bottom right")
    fig.update_layout(base_layout(title=f"{metric_label(metric)} over time", x_title="period start",
                                  y_title=metric_label(metric)))
    fig.update_layout(showlegend=False)
    return fig


def curve_figure(key: str, curve: Curve) -> go.Figure:
    """Any other curve the evaluation provides, drawn as a plain line."""
    fig = go.Figure(go.Scatter(x=curve.x, y=curve.y, mode="lines", line={"color": MODEL_COLOR, "width": 2.5},
                               name=key))
    fig.update_layout(base_layout(title=key.replace("_", " "), x_title="x", y_title="y"))
    fig.update_layout(showlegend=False)
    return fig
