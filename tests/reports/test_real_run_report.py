"""The evaluation report of real small training runs: the second run is compared with the champion of the first,
and a regression shows its predicted-vs-actual plots and signed coefficients; no table can be clipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loopline.loop import TrainingOutcome
from loopline.loop._train import evaluate_version
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.reports.real_runs import binary_runs, regression_run


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real")


@pytest.fixture(scope="module")
def runs(root: Path) -> tuple[TrainingOutcome, TrainingOutcome, TrainingOutcome]:
    before, after = binary_runs(root, n_boot=40)
    return before, after, regression_run(root, n_boot=40)


def _tables_scroll(html: str) -> None:
    """Every table sits alone in a horizontally scrolling box, so a wide one scrolls instead of being cut."""
    assert html.count("<table>") == len(re.findall(r'<div class="scroll">\s*<table>', html)) > 0
    assert ".scroll { overflow-x: auto; }" in html


@pytest.mark.slow
def test_the_second_run_is_compared_with_the_champion(runs: tuple[TrainingOutcome, ...]) -> None:
    before, after, _ = runs
    assert before.promoted and before.evaluation.champion is None  # nothing to compare with yet
    versus = after.evaluation.champion
    assert versus is not None and versus.other == f"champion v{before.version.version}"
    champion = after.evaluation.scores_of(versus.other)
    assert champion.role == "champion"
    assert champion.metrics["log_loss"].value == pytest.approx(before.evaluation.metrics["log_loss"])  # same rows
    assert versus.low is not None and versus.high is not None and versus.low <= versus.improvement <= versus.high
    html = after.report.html.read_text(encoding="utf-8")
    assert f"the current champion ({versus.other}: log-loss" in html
    assert f"{versus.other} (champion)" in html  # its ROC and PR curves beside the model's
    _tables_scroll(html)
    data = json.loads(after.report.json.read_text(encoding="utf-8"))
    assert data["champion"]["other"] == versus.other and f"roc:{versus.other}" in data["curves"]
    reliability = data["curves"]["reliability"]
    assert len(reliability["x"]) >= 8 and max(reliability["counts"]) - min(reliability["counts"]) <= 1
    assert all(s["judged"] == (s["rows"] >= 100) for s in data["slices"])
    assert all(m["entity"].startswith("c") for m in data["mistakes"])  # the spec's entity, customer_id


@pytest.mark.slow
def test_a_linear_regression_report_shows_its_plots_and_signed_coefficients(runs: tuple[TrainingOutcome, ...]) -> None:
    *_, regression = runs
    evaluation = regression.evaluation
    assert evaluation.task == "regression" and evaluation.champion is None
    assert "predicted_actual" in evaluation.curves and len(evaluation.curves["predicted_actual"].x) == evaluation.rows
    signs = dict(evaluation.coefficients)
    assert signs["tenure_months"] > 0 > signs["support_tickets"]  # spend = 0.8 tenure - 6 tickets + ...
    html = Path(regression.report.html).read_text(encoding="utf-8")
    for text in ('id="fig-predicted-actual"', 'id="fig-residuals"', 'id="fig-coefficients"', "Predicted vs actual"):
        assert text in html
    _tables_scroll(html)


@pytest.mark.slow
def test_evaluating_a_registered_version_compares_it_with_the_champion_unless_it_is_the_champion(
        runs: tuple[TrainingOutcome, ...], root: Path) -> None:
    before, after, _ = runs
    spec, ws = ProblemSpec.load(root / "binary" / "loopline.yaml"), Workspace.open(root / "ws", env={})
    challenger = evaluate_version(spec, ws, str(after.version.version), n_boot=20)
    assert challenger.evaluation.champion is not None
    assert challenger.evaluation.champion.other == f"champion v{before.version.version}"
    assert "the current champion (champion v1" in challenger.report.html.read_text(encoding="utf-8")
    itself = evaluate_version(spec, ws, str(before.version.version), n_boot=20)
    assert itself.evaluation.champion is None and all(s.role != "champion" for s in itself.evaluation.scores)
