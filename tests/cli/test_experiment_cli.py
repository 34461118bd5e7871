"""``loopline experiment design|analyze`` on a simulated A/B test, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopline.cli import app
from loopline.events import EventLog
from loopline.experiments import ProportionMetric, design
from loopline.registry import Registry
from loopline.simulate import FeedSimulator, SimConfig, SimExperiment
from loopline.workspace import Workspace
from tests.experiments.logs import Plan, build
from tests.registry.conftest import make_artifact, register

runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    ws = Workspace.open(root, env={})
    experiment = SimExperiment(name="lift", arms={"control": 0.5, "treatment": 0.5}, start_day=4,
                               lift={"treatment": 0.25})
    config = SimConfig(seed=5, n_users=2000, n_posts_per_day=150, n_authors=200, days=8, experiment=experiment)
    FeedSimulator(config).run(EventLog.for_workspace(ws))
    spec = root / "experiments" / "lift.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(yaml.safe_dump({"name": "lift", "arms": {"control": 0.5, "treatment": 0.5},
                                    "cuped": {"pre_days": 4}}), encoding="utf-8")
    return root


def test_design_from_a_given_baseline_matches_the_library() -> None:
    result = runner.invoke(app, ["experiment", "design", "--baseline", "0.05", "--mde", "0.1", "--daily-units",
                                 "2000", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)["design"]
    # by default sized for the always-valid test analyze decides with, read every day
    expected = design(ProportionMetric(0.05), mde=0.1, relative=True, daily_units=2000, sequential=True)
    assert tuple(body["n_per_arm"]) == expected.n_per_arm and body["days"] == expected.days
    assert body["n_rule_of_thumb"] == expected.n_rule_of_thumb and body["sequential"] is True
    assert body["mixing_variance"] == pytest.approx((0.1 * 0.05) ** 2)
    fixed = runner.invoke(app, ["experiment", "design", "--baseline", "0.05", "--mde", "0.1", "--daily-units",
                                "2000", "--fixed-horizon", "--json"])
    once = design(ProportionMetric(0.05), mde=0.1, relative=True, daily_units=2000)
    assert tuple(json.loads(fixed.stdout)["design"]["n_per_arm"]) == once.n_per_arm < expected.n_per_arm


def test_design_from_the_logs_recent_traffic(workspace: Path) -> None:
    result = runner.invoke(app, ["experiment", "design", "--metric", "ratio", "-w", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert 0.03 < body["traffic"]["events_per_exposure"] < 0.09
    assert body["design"]["kind"] == "ratio" and body["design"]["days"] >= 1
    shown = runner.invoke(app, ["experiment", "design", "-w", str(workspace)])
    assert "rule of thumb" in shown.output and "traffic from the log" in shown.output


def test_analyze_finds_the_planted_effect_and_writes_the_report(workspace: Path) -> None:
    result = runner.invoke(app, ["experiment", "analyze", "lift", "-w", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["decision"]["recommendation"] == "ship"
    assert body["analysis"]["validity"]["valid"] is True
    html = Path(body["report"]).read_text(encoding="utf-8")
    assert "Cumulative effect" in html and "Sample ratio" in html and "<script src" not in html
    assert json.loads(Path(body["report_json"]).read_text(encoding="utf-8"))["decision"]["recommendation"] == "ship"


def test_analyze_errors_are_one_line_and_exit_2(workspace: Path) -> None:
    missing = runner.invoke(app, ["experiment", "analyze", "nope", "-w", str(workspace)])
    assert missing.exit_code == 2 and "no experiment spec at" in missing.output and "Traceback" not in missing.output
    ship = runner.invoke(app, ["experiment", "analyze", "lift", "-w", str(workspace), "--promote-on-ship", "2"])
    assert ship.exit_code == 2 and "needs --model" in ship.output


@pytest.fixture
def versioned(tmp_path: Path) -> Path:
    """A workspace whose experiment 'exp1' served v1 in control and v2 in treatment; v1 is champion."""
    ws = Workspace.open(tmp_path / "ws", env={})
    build(EventLog.for_workspace(ws), Plan(units={"control": 3000, "treatment": 3000},
                                           click_p={"control": 0.05, "treatment": 0.065}, seed=21))
    (ws.root / "experiments").mkdir()
    (ws.root / "experiments" / "exp1.yaml").write_text(
        yaml.safe_dump({"name": "exp1", "arms": {"control": 0.5, "treatment": 0.5}}), encoding="utf-8")
    registry = Registry(ws)
    for i in (1, 2):
        register(registry, make_artifact(tmp_path / f"a{i}", {"family": "linear", "coef": [float(i)]}), name="feed")
    registry.promote("feed", 1, reason="first")
    return ws.root


def test_promote_on_ship_refuses_a_version_the_winning_arm_did_not_serve(versioned: Path) -> None:
    args = ["experiment", "analyze", "exp1", "-w", str(versioned), "--model", "feed", "--promote-on-ship"]
    wrong = runner.invoke(app, [*args, "1"])
    assert wrong.exit_code == 2, wrong.output
    assert "the winning arm 'treatment' served v2" in wrong.output and "not version 1" in wrong.output
    assert "--promote-on-ship 2." in wrong.output and "Traceback" not in wrong.output
    registry = Registry(Workspace.open(versioned, env={}))
    assert registry.aliases("feed") == {"champion": 1}
    assert not (Workspace.open(versioned, env={}).reports_root / "experiments" / "exp1").exists()
    right = runner.invoke(app, [*args, "2", "--json"])
    assert right.exit_code == 0, right.output
    body = json.loads(right.stdout)
    assert body["decision"]["recommendation"] == "ship" and body["promoted"] == 2
    assert registry.aliases("feed") == {"champion": 2}
    assert registry.alias_history("feed", "champion")[-1].reason.startswith("experiment exp1: ship")
