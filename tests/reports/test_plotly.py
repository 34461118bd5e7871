from __future__ import annotations

import json
import re

import plotly.graph_objects as go
import pytest

from loopline.evaluation import Curve
from loopline.reports import plotly_figure_html
from loopline.reports._figures import cost_figure, importance_figure, reliability_figure, roc_figure
from loopline.reports._plotly import plotly_js


def _data(html: str) -> list[dict[str, object]]:
    """The traces passed to Plotly.newPlot."""
    match = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', html, flags=re.S)
    assert match is not None
    data: list[dict[str, object]] = json.loads(match.group(1))
    return data


def test_figure_html_is_a_div_and_a_script_without_plotly_js() -> None:
    html = plotly_figure_html(go.Figure(go.Scatter(x=[0, 1], y=[2, 3])), div_id="fig-a")
    assert '<div id="fig-a"' in html
    assert html.count("Plotly.newPlot") == 1
    assert "<script src" not in html and "http" not in html
    assert plotly_js()[:200] not in html
    assert _data(html)[0]["y"] == [2, 3]


def test_figure_html_escapes_text_that_would_end_the_script() -> None:
    html = plotly_figure_html(go.Figure(go.Bar(x=[1], y=["</script><b>x"])), div_id="fig-b")
    assert "</script><b>" not in html


def test_div_id_must_be_a_plain_html_id() -> None:
    with pytest.raises(ValueError, match=r"div_id must start with a letter.*got 'a\"b'"):
        plotly_figure_html(go.Figure(), div_id='a"b')


def test_figures_draw_the_numbers_they_are_given() -> None:
    roc = Curve(x=[0.0, 0.1, 1.0], y=[0.0, 0.6, 1.0], thresholds=[1.0, 0.5, 0.0])
    fig = roc_figure(roc, model="m", auc=0.75)
    assert list(fig.data[1].x) == roc.x and list(fig.data[1].y) == roc.y
    assert fig.data[1].name == "m (AUC 0.750)"
    assert list(fig.data[0].x) == [0, 1] and list(fig.data[0].y) == [0, 1]  # the chance diagonal

    reliability = Curve(x=[0.05, 0.5], y=[0.04, 0.55], counts=[900, 100])
    fig = reliability_figure(reliability, model="m")
    assert list(fig.data[1].y) == reliability.y
    assert list(fig.data[2].y) == [900, 100]  # bin counts as bars
    assert fig.data[1].marker.size[0] > fig.data[1].marker.size[1]

    cost = cost_figure(Curve(x=[0.1, 0.2], y=[0.5, 0.4]), threshold=0.2)
    assert cost.layout.shapes[0].x0 == 0.2

    fig = importance_figure([(f"f{i}", float(i)) for i in range(30)] + [("neg", -100.0)])
    assert len(fig.data[0].y) == 20
    assert fig.data[0].y[-1] == "neg"  # largest absolute value on top
