"""The evaluation report's figures draw the numbers they are given: other scorers' curves, intervals,
counts, signed coefficients and the regression plots."""

from __future__ import annotations

import numpy as np
import pytest

from loopline.evaluation import Curve, TimePoint
from loopline.reports._figures import (
    MAX_LABELLED_POINTS,
    coefficients_figure,
    over_time_figure,
    pr_figure,
    predicted_actual_figure,
    reliability_figure,
    residuals_figure,
    roc_figure,
)
from loopline.reports._plotly import ACCENT_COLOR, MODEL_COLOR


def test_roc_and_pr_draw_the_other_scorers_under_the_model() -> None:
    model = Curve(x=[0.0, 0.2, 1.0], y=[0.0, 0.7, 1.0])
    champion = Curve(x=[0.0, 0.3, 1.0], y=[0.0, 0.6, 1.0])
    constant = Curve(x=[0.0, 1.0], y=[0.0, 1.0])
    fig = roc_figure(model, model="m", others=[("champion v2", "champion", champion), ("prior", "baseline", constant)])
    assert [t.name for t in fig.data] == ["chance", "champion v2 (champion)", "prior (baseline)", "m"]
    assert list(fig.data[1].x) == champion.x and list(fig.data[2].y) == constant.y
    assert fig.data[3].line.color == MODEL_COLOR and fig.data[3].line.width > fig.data[1].line.width
    assert fig.data[2].line.dash == "dot"  # baselines dotted
    pr = pr_figure(Curve(x=[0.5, 1.0], y=[0.8, 0.1]), model="m", base_rate=0.1,
                   others=[("lgbm", "candidate", Curve(x=[0.5, 1.0], y=[0.6, 0.1]))])
    assert [t.name for t in pr.data] == ["no skill (label rate 10.0%)", "lgbm (candidate)", "m"]
    assert list(pr.data[0].y) == [0.1, 0.1]


def test_reliability_shows_each_bins_interval_and_rows() -> None:
    curve = Curve(x=[0.02, 0.05, 0.3], y=[0.01, 0.06, 0.25], counts=[200, 200, 199],
                  low=[0.002, 0.03, 0.19], high=[0.04, 0.1, 0.31])
    fig = reliability_figure(curve, model="m")
    points = fig.data[1]
    assert list(points.error_y.array) == pytest.approx([0.03, 0.04, 0.06])  # high - y
    assert list(points.error_y.arrayminus) == pytest.approx([0.008, 0.03, 0.06])  # y - low
    assert [row[0] for row in points.customdata] == [200, 200, 199]
    assert [row[1:] for row in points.customdata] == [[0.002, 0.04], [0.03, 0.1], [0.19, 0.31]]
    assert "rows %{customdata[0]:,}" in points.hovertemplate
    assert list(fig.data[2].y) == [200, 200, 199]  # bin counts as bars
    assert fig.layout.yaxis.range[1] == pytest.approx(0.31 * 1.08)  # zoomed to the data, not [0, 1]
    bare = reliability_figure(Curve(x=[0.1, 0.5], y=[0.1, 0.4]), model="m")
    assert bare.data[1].error_y.array is None and "interval" not in bare.layout.title.text


def test_over_time_shows_intervals_and_rows_per_point() -> None:
    points = [TimePoint("2024-03-01", 120, 0.2, "2024-03-01", 0.15, 0.26),
              TimePoint("2024-03-02", 230, 0.25, "2024-03-04", 0.2, 0.31)]
    fig = over_time_figure(points, metric="log_loss", overall=0.23)
    trace = fig.data[0]
    assert list(trace.error_y.array) == pytest.approx([0.06, 0.06]) and list(trace.error_y.arrayminus) == pytest.approx(
        [0.05, 0.05])
    assert [row[:2] for row in trace.customdata] == [["2024-03-01", 120], ["2024-03-02 to 2024-03-04", 230]]
    assert list(fig.layout.xaxis.ticktext) == ["03-01<br>120 rows", "03-02<br>230 rows"]
    many = [TimePoint(f"2024-01-{i + 1:02d}", 100, 0.2) for i in range(MAX_LABELLED_POINTS + 1)]
    assert over_time_figure(many, metric="log_loss").layout.xaxis.ticktext is None


def test_coefficients_are_signed_bars_in_two_colours_largest_on_top() -> None:
    coefficients = [("plan=basic", 0.7), ("tenure", -1.2), ("tickets", 0.4)] + [(f"f{i}", 0.01) for i in range(30)]
    fig = coefficients_figure(coefficients)
    bars = fig.data[0]
    assert len(bars.y) == 20 and list(bars.y[-3:]) == ["tickets", "plan=basic", "tenure"]
    assert list(bars.x[-3:]) == [0.4, 0.7, -1.2]
    assert list(bars.marker.color[-3:]) == [MODEL_COLOR, MODEL_COLOR, ACCENT_COLOR]
    assert "top 20" in fig.layout.title.text


def test_regression_plots_draw_the_diagonal_and_the_residuals() -> None:
    rng = np.random.default_rng(0)
    predicted = rng.normal(50, 10, 300)
    actual = predicted + rng.normal(0, 5, 300)
    curve = Curve(x=predicted.tolist(), y=actual.tolist())
    fig = predicted_actual_figure(curve)
    diagonal = fig.data[0]
    assert list(diagonal.x) == list(diagonal.y) == [min(curve.x + curve.y), max(curve.x + curve.y)]
    assert list(fig.data[1].x) == curve.x and list(fig.data[1].y) == curve.y
    residuals = residuals_figure(curve)
    assert list(residuals.data[0].y) == pytest.approx((actual - predicted).tolist())
    assert residuals.layout.shapes[0].y0 == 0
    capped = predicted_actual_figure(curve, cap=100)
    assert len(capped.data[1].x) == 100 and "(100 rows)" in capped.layout.title.text
