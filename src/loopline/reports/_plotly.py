"""Plotly for offline pages: the plotly.js bundle inlined once per page, each figure as a div + script.

Nothing is fetched from a network: the bundle comes from the installed ``plotly`` package, and each
figure's HTML only calls the already loaded ``Plotly.newPlot``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import plotly.graph_objects as go
import plotly.offline

_DIV_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

# What every figure shares: zoom, pan and save-as-PNG stay; the Plotly logo and the button that
# sends the chart to Plotly's cloud go (a report never talks to a network).
CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "showSendToCloud": False,
    "modeBarButtonsToRemove": ["sendChartToCloud", "select2d", "lasso2d", "autoScale2d"],
}

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
MODEL_COLOR = "#2563eb"
REFERENCE_COLOR = "#9ca3af"
ACCENT_COLOR = "#dc2626"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly, to inline in a ``<script>`` once per page."""
    js: str = plotly.offline.get_plotlyjs()
    if "</script" in js.lower():  # pragma: no cover - would end the inline script early
        raise RuntimeError("the plotly.js bundle contains '</script' and cannot be inlined; upgrade plotly")
    return js


def plotly_figure_html(fig: go.Figure, *, div_id: str) -> str:
    """The HTML of one figure: a ``<div id=div_id>`` and a script drawing it with the inlined plotly.js.

    The page must load :func:`plotly_js` before this HTML (the report templates do, in ``<head>``).

    >>> html = plotly_figure_html(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), div_id="fig-roc")
    >>> 'id="fig-roc"' in html and "Plotly.newPlot" in html and "<script src" not in html
    True
    """
    if not _DIV_ID.fullmatch(div_id):
        raise ValueError(
            f"div_id must start with a letter and hold only letters, digits, '-' and '_', got {div_id!r}"
        )
    html: str = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                            div_id=div_id, config=CONFIG, default_width="100%")
    return html


def base_layout(*, title: str, x_title: str, y_title: str, height: int = 380) -> dict[str, Any]:
    """The layout shared by the report's figures: white, compact, system font, legend below."""
    return {
        "template": "plotly_white",
        "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        "font": {"family": FONT, "size": 12, "color": "#1f2937"},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 48, "b": 48},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0.0},
        "hovermode": "closest",
    }
