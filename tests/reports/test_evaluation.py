from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.offline
import pytest

from loopline.evaluation import Evaluation
from loopline.reports import ReportPaths, render_evaluation
from tests.reports.samples import (
    ALL_SECTIONS,
    FACTS,
    SPLITS,
    WARNINGS,
    binary_evaluation,
    regression_evaluation,
)

BUNDLE = plotly.offline.get_plotlyjs()


@pytest.fixture(scope="module")
def binary_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Evaluation, ReportPaths]:
    evaluation = binary_evaluation()
    paths = render_evaluation(evaluation, tmp_path_factory.mktemp("binary") / "reports", title="churn: lightgbm",
                              splits=SPLITS, warnings=WARNINGS, facts=FACTS)
    return evaluation, paths


@pytest.fixture(scope="module")
def regression_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Evaluation, ReportPaths]:
    evaluation = regression_evaluation()
    paths = render_evaluation(evaluation, tmp_path_factory.mktemp("regression"), title="prices", name="prices-v3")
    return evaluation, paths


def _headings(html: str) -> list[str]:
    return re.findall(r'<h2 id="([^"]+)"', html)


def _outside_bundle(html: str) -> str:
    assert html.count(BUNDLE) == 1
    return html.replace(BUNDLE, "")


def test_files_are_written_next_to_each_other_without_temporary_files(
        binary_report: tuple[Evaluation, ReportPaths], regression_report: tuple[Evaluation, ReportPaths]) -> None:
    _, paths = binary_report
    assert paths.html.name == "evaluation.html" and paths.json.name == "evaluation.json"
    assert sorted(p.name for p in paths.html.parent.iterdir()) == ["evaluation.html", "evaluation.json"]
    _, paths = regression_report
    assert sorted(p.name for p in paths.html.parent.iterdir()) == ["prices-v3.html", "prices-v3.json"]


@pytest.mark.parametrize("report", ["binary_report", "regression_report"])
def test_plotly_js_is_inlined_once_and_nothing_is_loaded_from_a_network(
        report: str, request: pytest.FixtureRequest) -> None:
    _, paths = request.getfixturevalue(report)
    html = paths.html.read_text(encoding="utf-8")
    assert html.count("* plotly.js v") == 1  # the bundle's banner
    assert html.count(BUNDLE) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.I)
    rest = _outside_bundle(html)
    # the bundle itself names cdn.plot.ly once, as the default URL of map outlines we never draw
    assert "cdn.plot.ly" not in rest
    assert "http://" not in rest and "https://" not in rest
    assert html.index(BUNDLE) < html.index("Plotly.newPlot")


def test_binary_report_has_every_section_in_order(binary_report: tuple[Evaluation, ReportPaths]) -> None:
    _, paths = binary_report
    html = paths.html.read_text(encoding="utf-8")
    assert _headings(html) == list(ALL_SECTIONS)
    # every figure is drawn once, in its own div
    ids = re.findall(r'<div id="(fig-[^"]+)"', html)
    assert ids == ["fig-roc", "fig-pr", "fig-reliability", "fig-cost", "fig-importance", "fig-over-time"]
    assert _outside_bundle(html).count("Plotly.newPlot(") == len(ids)


def test_binary_report_shows_the_headline_and_the_given_numbers(binary_report: tuple[Evaluation, ReportPaths]) -> None:
    _, paths = binary_report
    html = paths.html.read_text(encoding="utf-8")
    assert "<title>churn: lightgbm</title>" in html
    assert 'log-loss <span class="value">0.170</span> <span class="ci">[0.168, 0.172]</span>' in html
    assert "11.2% better than the constant baseline (0.191)" in html
    assert "Beats all 2 baselines on log-loss." in html
    for text in ("<b>lightgbm</b>", "<b>binary</b>", "<b>test</b>", "<b>8,000</b> rows",
                 "AUC of simulator&#39;s true probabilities", "0.8123", "isotonic", "decision threshold",
                 "Confusion matrix at threshold 0.214", "7,230", "Demographic parity difference 0.021",
                 "Row 101 · prediction 0.912 · label 1", "4 more in the JSON twin.",
                 "Better than the current champion (champion v3: log-loss 0.176): improvement +0.006, "
                 "95% paired interval [+0.003, +0.009].", "cust-4410", "not among this row&#39;s top features",
                 "too small to judge", "logistic (candidate)", "heuristic (baseline)"):
        assert text in html, text
    assert '<p class="champion good">' in html


def test_text_from_the_caller_is_escaped(binary_report: tuple[Evaluation, ReportPaths]) -> None:
    _, paths = binary_report
    html = paths.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert(" not in html


def test_regression_report_leaves_out_empty_sections(regression_report: tuple[Evaluation, ReportPaths]) -> None:
    _, paths = regression_report
    html = paths.html.read_text(encoding="utf-8")
    assert _headings(html) == ["metrics", "lift", "residuals", "importance", "coefficients"]
    for absent in set(ALL_SECTIONS) - {"metrics", "lift", "importance"}:
        assert f'href="#{absent}"' not in html
    assert "Fairness" not in html and "Confusion" not in html and "Warnings" not in html
    assert 'RMSE <span class="value">12.34</span> <span class="ci">[11.93, 12.75]</span>' in html
    assert "23.4% better than the baseline &#39;mean&#39; (16.10)" in html
    assert re.findall(r'<div id="(fig-[^"]+)"', html) == [
        "fig-predicted-actual", "fig-residuals", "fig-importance", "fig-coefficients"]
    assert "Predicted vs actual (600 rows)" in html and "Residuals vs predicted (600 rows)" in html
    assert "Coefficients (signed, standardized inputs)" in html


@pytest.mark.parametrize("report", ["binary_report", "regression_report"])
def test_json_twin_is_the_evaluation_plus_the_context(report: str, request: pytest.FixtureRequest) -> None:
    evaluation, paths = request.getfixturevalue(report)
    data: dict[str, Any] = json.loads(paths.json.read_text(encoding="utf-8"))
    expected = evaluation.to_dict()
    assert {k: data[k] for k in expected} == expected
    assert set(data) - set(expected) == {"title", "splits", "warnings", "facts", "generated_at"}
    generated = datetime.fromisoformat(data["generated_at"])
    offset = generated.utcoffset()
    assert offset is not None and offset.total_seconds() == 0
    assert abs((datetime.now(UTC) - generated).total_seconds()) < 600
    if report == "binary_report":
        assert data["title"] == "churn: lightgbm"
        assert data["splits"] == [asdict(s) for s in SPLITS]
        assert data["warnings"] == list(WARNINGS)
        assert data["facts"] == FACTS
        assert data["scores"][0]["metrics"]["precision"]["value"] is None  # NaN became null
        assert "NaN" not in paths.json.read_text(encoding="utf-8")
    else:
        assert (data["splits"], data["warnings"], data["facts"]) == ([], [], {})


def test_rendering_again_replaces_the_report(tmp_path: Path) -> None:
    evaluation = regression_evaluation()
    render_evaluation(evaluation, tmp_path, title="first")
    paths = render_evaluation(replace(evaluation, rows=99), tmp_path, title="second")
    assert json.loads(paths.json.read_text(encoding="utf-8"))["rows"] == 99
    assert "<title>second</title>" in paths.html.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.html", "evaluation.json"]


def test_report_name_must_be_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"report name must be a plain file name .* got '\.\./x'"):
        render_evaluation(regression_evaluation(), tmp_path, title="t", name="../x")
    assert list(tmp_path.iterdir()) == []


def test_r2_primary_gets_a_difference_never_a_percentage(tmp_path: Path) -> None:
    # The mean predictor's R2 is 0.0006: once the headline and lift table read "+68567%".
    base = regression_evaluation()
    scores = [replace(base.scores[1], metrics={**base.scores[1].metrics, "r2": replace(base.scores[1].metrics["r2"],
                                                                                        value=0.0006)}),
              base.scores[0]]
    evaluation = replace(base, primary_metric="r2", scores=[scores[1], scores[0]],
                         improvement={"mean": {"rmse": 3.76, "mae": 3.88, "r2": 0.4114}})
    paths = render_evaluation(evaluation, tmp_path, title="prices")
    html = paths.html.read_text(encoding="utf-8")
    lift_table = html[html.index('<h2 id="lift"'):].split("</table>")[0]
    rows = re.findall(r"<tr><td[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td></tr>", lift_table)
    assert rows == [("R²", "+0.411"), ("RMSE", "+23.4%"), ("MAE", "+30.1%")]
    assert "better than the baseline &#39;mean&#39; (0.0006)" in html
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert "r2" not in data["lift"]["mean"] and data["improvement"]["mean"]["r2"] == 0.4114


@pytest.mark.parametrize("report", ["binary_report", "regression_report"])
def test_every_table_scrolls_instead_of_being_clipped(report: str, request: pytest.FixtureRequest) -> None:
    _, paths = request.getfixturevalue(report)
    html = paths.html.read_text(encoding="utf-8")
    assert html.count("<table>") == len(re.findall(r'<div class="scroll">\s*<table>', html)) > 0
    assert ".scroll { overflow-x: auto; }" in html and ".grid > .cell { min-width: 0; }" in html
