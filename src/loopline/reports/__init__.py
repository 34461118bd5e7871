"""Reports: results computed elsewhere rendered as self-contained HTML pages with JSON twins.

Rendering only: a report draws and prints the numbers it is given and computes no metric. Pages
inline plotly.js once and load nothing from the network, so they open offline.
"""

from __future__ import annotations

from loopline.reports._evaluation import ReportPaths, render_evaluation
from loopline.reports._experiment import render_experiment
from loopline.reports._loop import render_backtest
from loopline.reports._monitoring import render_monitoring
from loopline.reports._plotly import plotly_figure_html
from loopline.reports._write import write_html, write_json

__all__ = [
    "ReportPaths",
    "plotly_figure_html",
    "render_backtest",
    "render_evaluation",
    "render_experiment",
    "render_monitoring",
    "write_html",
    "write_json",
]
