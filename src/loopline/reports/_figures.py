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
# Other scorers on the same rows: candidates and the champion in distinct colours, baselines grey and dashed.
_OTHER_COLORS = ("#f59e0b", "#10b981", "#8b5cf6", "#ec4899", "#0891b2", "#65a30d")
_BASELINE_COLORS = ("#9ca3af", "#78716c", "#a8a29e", "#6b7280")
_ROLE_DASH = {"baseline": "dot", "reference": "dashdot"}
MAX_SCATTER = 5000
MAX_LABELLED_POINTS = 16

OtherCurve = tuple[str, str, Curve]
"""Another scorer's curve: its name, its role (``candidate``, ``champion``, ``baseline``, ``reference``), the curve."""


def _other_traces(fig: go.Figure, others: Sequence[OtherCurve], *, x_label: str, y_label: str) -> None:
    """The other scorers' curves, thinner than the model's and drawn under it."""
    for i, (name, role, curve) in enumerate(others):
        color = (_BASELINE_COLORS[i % len(_BASELINE_COLORS)] if role == "baseline"
                 else _OTHER_COLORS[i % len(_OTHER_COLORS)])
        width = 2.0 if role == "champion" else 1.5
        fig.add_trace(go.Scatter(
            x=curve.x, y=curve.y, mode="lines", name=f"{name} ({role})",
            line={"color": color, "width": width, "dash": _ROLE_DASH.get(role, "solid")},
            hovertemplate=f"{name}<br>{x_label} %{{x:.3f}}<br>{y_label} %{{y:.3f}}<extra></extra>",
        ))


def _hover_thresholds(curve: Curve) -> list[float] | None:
    if curve.thresholds is not None and len(curve.thresholds) == len(curve.x):
        return list(curve.thresholds)
    return None


def roc_figure(curve: Curve, *, model: str, auc: float | None = None, others: Sequence[OtherCurve] = ()) -> go.Figure:
    """ROC curve (x = false positive rate, y = true positive rate) with the chance diagonal, and the
    curves of the other scorers evaluated on the same rows."""
    name = model if auc is None or not is_number(auc) else f"{model} (AUC {fmt_number(auc)})"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_CHANCE, name="chance", hoverinfo="skip"))
    _other_traces(fig, others, x_label="FPR", y_label="TPR")
    fig.add_trace(go.Scatter(
        x=curve.x, y=curve.y, mode="lines", name=name, line={"color": MODEL_COLOR, "width": 2.5},
        customdata=_hover_thresholds(curve),
        hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}"
        + ("<br>threshold %{customdata:.4f}" if _hover_thresholds(curve) else "") + "<extra></extra>",
    ))
    fig.update_layout(base_layout(title="ROC curve", x_title="false positive rate", y_title="true positive rate",
                                  height=380 + 22 * ((len(others) + 2) // 3)))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def pr_figure(curve: Curve, *, model: str, base_rate: float | None = None, pr_auc: float | None = None,
              others: Sequence[OtherCurve] = ()) -> go.Figure:
    """Precision-recall curve (x = recall, y = precision); the label rate is the no-skill line; the other
    scorers evaluated on the same rows are drawn under the model's curve."""
    name = model if pr_auc is None or not is_number(pr_auc) else f"{model} (PR AUC {fmt_number(pr_auc)})"
    fig = go.Figure()
    if base_rate is not None and is_number(base_rate):
        fig.add_trace(go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", line=_CHANCE,
                                 name=f"no skill (label rate {fmt_rate(base_rate)})", hoverinfo="skip"))
    _other_traces(fig, others, x_label="recall", y_label="precision")
    fig.add_trace(go.Scatter(
        x=curve.x, y=curve.y, mode="lines", name=name, line={"color": MODEL_COLOR, "width": 2.5},
        customdata=_hover_thresholds(curve),
        hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}"
        + ("<br>threshold %{customdata:.4f}" if _hover_thresholds(curve) else "") + "<extra></extra>",
    ))
    fig.update_layout(base_layout(title="Precision-recall curve", x_title="recall", y_title="precision",
                                  height=380 + 22 * ((len(others) + 2) // 3)))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def reliability_figure(curve: Curve, *, model: str) -> go.Figure:
    """Reliability diagram: observed rate against mean predicted probability per bin, with the
    diagonal of perfect calibration, each bin's 95% interval as an error bar (when the curve has one);
    bin counts in the hover, as marker size and as bars underneath."""
    counts = list(curve.counts) if curve.counts is not None and len(curve.counts) == len(curve.x) else None
    bounds = _bounds(curve.y, curve.low, curve.high)
    fig = make_subplots(rows=2 if counts else 1, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.74, 0.26] if counts else [1.0])
    top = min(1.0, max(0.05, *(v for v in [*curve.x, *curve.y, *(bounds[1] if bounds else [])] if is_number(v))) * 1.08)
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line=_CHANCE, name="perfectly calibrated",
                             hoverinfo="skip"), row=1, col=1)
    biggest = max(counts) if counts else 0
    sizes = [6 + 8 * math.sqrt(c / biggest) for c in counts] if counts and biggest > 0 else 9
    fig.add_trace(go.Scatter(
        x=curve.x, y=curve.y, mode="lines+markers", name=model, line={"color": MODEL_COLOR, "width": 2},
        marker={"size": sizes, "color": MODEL_COLOR, "line": {"color": "white", "width": 1}},
        error_y=None if bounds is None else {"type": "data", "symmetric": False, "array": bounds[2],
                                             "arrayminus": bounds[3], "color": MODEL_COLOR, "thickness": 1.2},
        customdata=_hover_rows(counts, bounds),
        hovertemplate="mean predicted %{x:.3f}<br>observed rate %{y:.3f}"
        + (" [%{customdata[1]:.3f}, %{customdata[2]:.3f}]" if bounds else "")
        + ("<br>rows %{customdata[0]:,}" if counts else "") + "<extra></extra>",
    ), row=1, col=1)
    if counts:
        fig.add_trace(go.Bar(x=curve.x, y=counts, name="rows per bin", marker={"color": REFERENCE_COLOR},
                             hovertemplate="mean predicted %{x:.3f}<br>rows %{y:,}<extra></extra>",
                             showlegend=False), row=2, col=1)
    title = "Reliability (calibration), equal-count bins" + (" with 95% intervals" if bounds else "")
    fig.update_layout(base_layout(title=title, x_title="", y_title="", height=480))
    fig.update_xaxes(range=[0, top], row=1, col=1)
    fig.update_yaxes(title_text="observed rate", range=[0, top], row=1, col=1)
    fig.update_xaxes(title_text="mean predicted probability", row=2 if counts else 1, col=1)
    if counts:
        fig.update_xaxes(range=[0, top], row=2, col=1)
        fig.update_yaxes(title_text="rows", row=2, col=1)
    return fig


def _bounds(y: Sequence[float], low: Sequence[float] | None, high: Sequence[float] | None
            ) -> tuple[list[float], list[float], list[float], list[float]] | None:
    """(low, high, distance up, distance down) when both ends are given for every point, else None."""
    if low is None or high is None or not (len(low) == len(high) == len(y)):
        return None
    lows = [float(v) if is_number(v) else float("nan") for v in low]
    highs = [float(v) if is_number(v) else float("nan") for v in high]
    return lows, highs, [h - v for h, v in zip(highs, y, strict=True)], [v - lo for lo, v in zip(lows, y, strict=True)]


def _hover_rows(counts: list[int] | None, bounds: tuple[list[float], ...] | None) -> list[list[float]] | None:
    if counts is None and bounds is None:
        return None
    n = len(counts) if counts is not None else len(bounds[0]) if bounds is not None else 0
    return [[float(counts[i]) if counts is not None else float("nan"),
             bounds[0][i] if bounds is not None else float("nan"),
             bounds[1][i] if bounds is not None else float("nan")] for i in range(n)]


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


def _signed_bars(items: Sequence[tuple[str, float]], *, top: int, hover: str) -> tuple[go.Figure, int]:
    """Horizontal bars of the ``top`` items by magnitude, largest at the top, blue when positive and red when
    negative; the figure and how many bars it holds (its layout is the caller's)."""
    ranked = sorted((item for item in items if is_number(item[1])), key=lambda item: -abs(item[1]))[:top]
    ranked.reverse()
    fig = go.Figure(go.Bar(
        x=[v for _, v in ranked], y=[n for n, _ in ranked], orientation="h",
        marker={"color": [MODEL_COLOR if v >= 0 else ACCENT_COLOR for _, v in ranked]}, hovertemplate=hover,
    ))
    fig.update_layout(showlegend=False, margin={"l": 20})
    fig.update_yaxes(automargin=True)
    return fig, len(ranked)


def importance_figure(importance: Sequence[tuple[str, float]], *, top: int = 20) -> go.Figure:
    """Horizontal bars of the ``top`` features by absolute importance, largest at the top."""
    fig, shown = _signed_bars(importance, top=top, hover="%{y}: %{x:.4g}<extra></extra>")
    title = f"Feature importance (top {shown})" if len(importance) > shown else "Feature importance"
    fig.update_layout(base_layout(title=title, x_title="importance", y_title="", height=max(240, 90 + 24 * shown)))
    fig.update_layout(showlegend=False, margin={"l": 20})
    return fig


def over_time_figure(points: Sequence[TimePoint], *, metric: str, overall: float | None = None) -> go.Figure:
    """The primary metric per period of the evaluated window with its 95% interval (error bars) and row count
    (hover); merged periods span their first to last period; the overall value as a dotted line."""
    label = metric_label(metric)
    bounds = _bounds([p.value for p in points], [math.nan if p.low is None else p.low for p in points],
                     [math.nan if p.high is None else p.high for p in points])
    has_bounds = bounds is not None and any(is_number(v) for v in bounds[0])
    spans = [p.start if not p.end or p.end == p.start else f"{p.start} to {p.end}" for p in points]
    labelled = len(points) <= MAX_LABELLED_POINTS  # row counts under the axis when they fit
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p.start for p in points], y=[p.value for p in points],
        mode="lines+markers", name=label, line={"color": MODEL_COLOR, "width": 2.5},
        error_y=None if not has_bounds or bounds is None else {
            "type": "data", "symmetric": False, "array": bounds[2], "arrayminus": bounds[3],
            "color": MODEL_COLOR, "thickness": 1.2},
        customdata=[[span, p.rows, math.nan if p.low is None else p.low, math.nan if p.high is None else p.high]
                    for span, p in zip(spans, points, strict=True)],
        hovertemplate="%{customdata[0]}<br>" + label + " %{y:.4f}"
        + (" [%{customdata[2]:.4f}, %{customdata[3]:.4f}]" if has_bounds else "")
        + "<br>rows %{customdata[1]:,}<extra></extra>",
    ))
    if overall is not None and is_number(overall):
        fig.add_hline(y=overall, line={"color": REFERENCE_COLOR, "dash": "dot", "width": 1.5},
                      annotation_text=f"whole split {fmt_number(overall)}", annotation_position="bottom right")
    fig.update_layout(base_layout(title=f"{label} over time" + (", with 95% intervals" if has_bounds else ""),
                                  x_title="period start", y_title=label))
    fig.update_layout(showlegend=False)
    if labelled:  # each point's start and row count as its tick label
        fig.update_xaxes(tickvals=[p.start for p in points], ticktext=[
            f"{p.start[5:]}<br>{p.rows:,} rows" for p in points], tickfont={"size": 10})
        fig.update_layout(xaxis_title_text="period start (month-day) and rows")
    return fig


def coefficients_figure(coefficients: Sequence[tuple[str, float]], *, top: int = 20) -> go.Figure:
    """A linear model's signed coefficients (the ``top`` largest by magnitude, largest at the top): positive
    ones push the score up (blue), negative ones down (red)."""
    fig, shown = _signed_bars(coefficients, top=top, hover="%{y}: %{x:+.4g} per standard deviation (per unit for a "
                                                          "0/1 input)<extra></extra>")
    some = f"top {shown} " if len(coefficients) > shown else ""
    fig.update_layout(base_layout(title=f"Coefficients ({some}signed, standardized inputs)",
                                  x_title="change of the raw score per standard deviation", y_title="",
                                  height=max(240, 90 + 24 * shown)))
    fig.update_layout(showlegend=False, margin={"l": 20})
    fig.add_vline(x=0, line={"color": "#6b7280", "width": 1})
    return fig


def _scatter_points(curve: Curve, cap: int) -> tuple[list[float], list[float]]:
    """The curve's points, every ``k``-th beyond ``cap`` (the evaluation already samples; this is a guard)."""
    step = max(1, math.ceil(len(curve.x) / cap))
    return list(curve.x[::step]), list(curve.y[::step])


def predicted_actual_figure(curve: Curve, *, cap: int = MAX_SCATTER) -> go.Figure:
    """Regression: actual value (y) against the prediction (x), with the diagonal where they are equal."""
    x, y = _scatter_points(curve, cap)
    finite = [v for v in [*x, *y] if is_number(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line=_CHANCE, name="actual = predicted",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="rows", marker={"color": MODEL_COLOR, "size": 4,
                                                                            "opacity": 0.35},
                             hovertemplate="predicted %{x:.4g}<br>actual %{y:.4g}<extra></extra>"))
    fig.update_layout(base_layout(title=f"Predicted vs actual ({len(x):,} rows)", x_title="predicted",
                                  y_title="actual"))
    return fig


def residuals_figure(curve: Curve, *, cap: int = MAX_SCATTER) -> go.Figure:
    """Regression: residual (actual - predicted) against the prediction, with the zero line."""
    x, y = _scatter_points(curve, cap)
    residual = [a - b for a, b in zip(y, x, strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=residual, mode="markers", name="rows",
                             marker={"color": MODEL_COLOR, "size": 4, "opacity": 0.35},
                             hovertemplate="predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>"))
    fig.add_hline(y=0, line={"color": REFERENCE_COLOR, "dash": "dash", "width": 1.5})
    fig.update_layout(base_layout(title=f"Residuals vs predicted ({len(x):,} rows)", x_title="predicted",
                                  y_title="actual - predicted"))
    fig.update_layout(showlegend=False)
    return fig


def curve_figure(key: str, curve: Curve) -> go.Figure:
    """Any other curve the evaluation provides, drawn as a plain line."""
    fig = go.Figure(go.Scatter(x=curve.x, y=curve.y, mode="lines", line={"color": MODEL_COLOR, "width": 2.5},
                               name=key))
    fig.update_layout(base_layout(title=key.replace("_", " "), x_title="x", y_title="y"))
    fig.update_layout(showlegend=False)
    return fig
