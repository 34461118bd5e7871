"""The experiment report reads at a glance: the verdict column comes right after the arm and metric, offline
metrics sit in a table beside the online effect (a row per arm, a column per metric), interleaving names the
two models, and every table is in a horizontal scroller rather than cut."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

import pytest

from loopline.events import EventLog
from loopline.experiments import ExperimentAnalysis, ExperimentSpec, OfflineOnline, analyze, decide, preference_test
from loopline.reports import render_experiment
from loopline.reports._format import fmt_interval, fmt_number
from tests.experiments.logs import Plan, build

pytestmark = pytest.mark.slow  # an analysis and a rendered report: a few seconds

SPEC = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 0.5, "treatment": 0.5}, "cuped": {"pre_days": 3},
                                 "guardrails": [{"metric": "clicks_per_user", "margin": 0.02, "relative": True}]})


class _Tables(HTMLParser):
    """Each table of a page as (section id, header texts, rows of cell texts); a cell's note follows a '|'."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[str], list[list[str]]]] = []
        self.section = ""
        self.scrolled: list[bool] = []
        self._depth_scroll = 0
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h2" and found.get("id"):
            self.section = str(found["id"])
        elif tag == "div" and found.get("class") == "scroll":
            self._depth_scroll += 1
        elif tag == "table":
            self.tables.append((self.section, [], []))
            self.scrolled.append(self._depth_scroll > 0)
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "span" and found.get("class") == "ci" and self._cell is not None:
            self._cell.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth_scroll = max(self._depth_scroll - 1, 0)
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            _, headers, rows = self.tables[-1]
            if not headers:
                headers.extend(self._row)
            else:
                rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> ExperimentAnalysis:
    log = EventLog(tmp_path_factory.mktemp("log"))
    build(log, Plan(units={"control": 600, "treatment": 600}, click_p={"control": 0.05, "treatment": 0.06},
                    pre_days=3, seed=4))
    found = analyze(log, SPEC)
    offline = (
        OfflineOnline(arm="control", model_version="v3", exposure_share=1.0, offline={"auc": 0.71, "log_loss": 0.21},
                      offline_delta={}, online_metric="ctr", online=found.arms[0].metrics["ctr"], online_effect=None,
                      online_relative=None, note=None),
        OfflineOnline(arm="treatment", model_version="heuristic", exposure_share=1.0, offline={}, offline_delta={},
                      online_metric="ctr", online=found.arms[1].metrics["ctr"], online_effect=0.0,
                      online_relative=0.0, note="not in the registry as 'feed'"),
    )
    return dataclasses.replace(found, offline_online=offline)


@pytest.fixture(scope="module")
def page(analysis: ExperimentAnalysis, tmp_path_factory: pytest.TempPathFactory) -> _Tables:
    directory = tmp_path_factory.mktemp("report")
    interleaving = preference_test(["A"] * 300 + ["B"] * 360 + ["tie"] * 2000, teams=("control", "treatment"),
                                   models=("v3", "v4"))
    html = render_experiment(analysis, decide(analysis), directory, title="exp1",
                             interleaving=interleaving).html.read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(html)
    return parser


def test_the_verdict_is_the_third_column_and_matches_the_analysis(analysis: ExperimentAnalysis, page: _Tables
                                                                  ) -> None:
    _, headers, rows = next(t for t in page.tables if t[0] == "effects")
    assert headers[:4] == ["arm", "metric", "verdict", "absolute (fixed 95% CI)"]
    assert headers[-1] == "CUPED cut" and "always-valid CI" in headers
    assert len(rows) == 3
    for row in rows:
        assert row[2] == analysis.verdict(row[0], row[1])
        tested = analysis.effect(row[0], row[1]).tested
        # the fixed interval of the effect the p-value belongs to (CUPED's) sits under its estimate
        assert row[3] == f"{fmt_number(tested.absolute)} | {fmt_interval(*tested.absolute_ci)}"
    assert all(page.scrolled) and len(page.scrolled) == len(page.tables)  # every table scrolls instead of clipping


def test_offline_metrics_are_a_table_beside_the_online_effect(analysis: ExperimentAnalysis, page: _Tables) -> None:
    _, headers, rows = next(t for t in page.tables if t[0] == "models" and "model version" in t[1])
    assert headers == ["arm", "model version", "online ctr", "online effect (95% CI)", "test auc", "test log_loss",
                       "note"]
    control, treatment = rows
    assert control[:5] == ["control", "v3", fmt_number(analysis.arms[0].metrics["ctr"]), "control", "0.710"]
    effect = analysis.effect("treatment", "ctr").tested
    assert effect.relative is not None and effect.relative_ci is not None
    assert treatment[3] == (f"{effect.relative:+.2%} | [{effect.relative_ci[0]:+.2%}, "
                            f"{effect.relative_ci[1]:+.2%}]")  # the effects table's numbers, with the interval
    assert treatment[:3] == ["treatment", "heuristic", fmt_number(analysis.arms[1].metrics["ctr"])]
    assert treatment[4:] == ["n/a", "n/a", "not in the registry as 'feed'"]


def test_interleaving_names_the_two_models(page: _Tables) -> None:
    _, headers, rows = next(t for t in page.tables if t[0] == "interleaving")
    assert headers[0] == "team-draft interleaving of v3 (control) and v4 (treatment)"
    cells = {row[0]: row[1] for row in rows}
    assert cells["sessions won by v3 (control)"] == "300" and cells["sessions won by v4 (treatment)"] == "360"
    assert cells["ties (no click, or as many for each)"] == "2,000"
    assert cells["preferred"] == "v4 (treatment)"
    assert not any(" A " in f" {key} " or " B " in f" {key} " for key in cells)


def test_many_offline_metrics_show_the_first_four_and_name_the_rest(analysis: ExperimentAnalysis) -> None:
    from loopline.reports._experiment import _offline_table

    metrics = {"log_loss": 0.18, "roc_auc": 0.67, "pr_auc": 0.1, "ece": 0.002, "brier": 0.05, "f1": 0.2}
    arms = tuple(dataclasses.replace(o, offline=metrics, note=None) for o in analysis.offline_online)
    table = _offline_table(dataclasses.replace(analysis, offline_online=arms))
    assert [h.text for h in table.headers] == ["arm", "model version", "online ctr", "online effect (95% CI)",
                                               "test log_loss", "test roc_auc", "test pr_auc", "test ece"]
    assert table.note == "Also in the registry and in this report's JSON twin: brier, f1."
    assert all(len(row) == len(table.headers) for row in table.rows)
