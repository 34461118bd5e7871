"""``decide`` for each branch, and ``promote_on_ship`` moving the champion alias on a real registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from loopline.events import EventLog
from loopline.experiments import Decision, ExperimentAnalysis, ExperimentSpec, analyze, decide, promote_on_ship
from loopline.registry import Registry
from loopline.workspace import Workspace
from tests.experiments.logs import Plan, build
from tests.registry.conftest import make_artifact, register

ARMS = {"control": 0.5, "treatment": 0.5}


def _log(root: Path, treatment_p: float, *, units: int = 3000, noise: bool = False, seed: int = 21) -> EventLog:
    log = EventLog(root)
    build(log, Plan(units={"control": units, "treatment": units}, click_p={"control": 0.05, "treatment": treatment_p},
                    noise=noise, seed=seed))
    return log


def _spec(**over: Any) -> ExperimentSpec:
    return ExperimentSpec.from_dict({"name": "exp1", "arms": ARMS, **over})


@pytest.fixture(scope="module")
def better(tmp_path_factory: pytest.TempPathFactory) -> EventLog:
    return _log(tmp_path_factory.mktemp("better"), 0.065)


@pytest.fixture(scope="module")
def shipped(better: EventLog) -> ExperimentAnalysis:
    return analyze(better, _spec(guardrails=[{"metric": "engagement", "margin": 0.2}]))


def test_significantly_better_with_guardrails_holding_ships(shipped: ExperimentAnalysis) -> None:
    decision = decide(shipped)
    assert decision.recommendation == "ship"
    assert decision.arm == "treatment"
    assert decision.summary is not None and decision.summary.startswith("ctr treatment vs control: +")
    assert "always-valid p=" in decision.summary
    assert "guardrails hold (engagement)" in decision.reasons[0]


def test_breached_guardrail_does_not_ship(better: EventLog) -> None:
    metrics = [{"name": "ctr", "kind": "ratio", "event": "click"},
               {"name": "load", "kind": "mean", "event": "click", "higher_is_better": False}]
    result = analyze(better, _spec(metrics=metrics, primary="ctr", guardrails=[{"metric": "load", "margin": 0.01}]))
    assert result.effect("treatment", "ctr").significant
    decision = decide(result)
    assert decision.recommendation == "do not ship"
    assert "guardrail breached in 'treatment'" in decision.reasons[0]
    assert "'load' is higher by more than the relative margin 0.01" in decision.reasons[0]


def test_significantly_worse_does_not_ship(tmp_path: Path) -> None:
    decision = decide(analyze(_log(tmp_path, 0.035), _spec()))
    assert decision.recommendation == "do not ship"
    assert "'ctr' is significantly worse in 'treatment'" in decision.reasons[0]


def test_no_difference_keeps_running_with_the_units_still_needed(tmp_path: Path) -> None:
    result = analyze(_log(tmp_path, 0.05, units=800), _spec())
    decision = decide(result)
    assert decision.recommendation == "keep running"
    assert result.design is not None
    assert result.design.n_per_arm[0] > 800
    more = result.design.total_units - sum(a.units for a in result.arms)
    assert any(f"about {more:,} more units" in r and "more day(s)" in r for r in decision.reasons)


def test_invalid_randomisation_does_not_ship_whatever_the_effect(tmp_path: Path) -> None:
    result = analyze(_log(tmp_path, 0.065, noise=True), _spec())
    decision = decide(result)
    assert decision.recommendation == "do not ship"
    assert decision.reasons == list(result.validity.issues)
    assert "fix the randomisation before reading results" in decision.reasons[0]


def test_aa_mode_never_ships_and_says_whether_the_check_passed(better: EventLog, tmp_path: Path) -> None:
    failed = decide(analyze(better, _spec(aa=True)))
    assert failed.recommendation == "do not ship"
    assert failed.reasons[0].startswith("A/A test: every arm runs the same policy")
    assert failed.reasons[1].startswith("A/A check failed") and "pipeline" in failed.reasons[1]
    passed = decide(analyze(_log(tmp_path, 0.05, units=800), _spec(aa=True)))
    assert passed.recommendation == "do not ship"
    assert passed.reasons[1].startswith("A/A check passed")


def test_sequential_decides_on_the_always_valid_p_value(shipped: ExperimentAnalysis) -> None:
    series = shipped.daily[0]
    assert series.sequential is not None
    unsure = dataclasses.replace(series.sequential, p_values=tuple(0.5 for _ in series.sequential.p_values),
                                 stop_look=None)
    waiting = dataclasses.replace(shipped, daily=(dataclasses.replace(series, sequential=unsure, stop_day=None),))
    assert decide(waiting).recommendation == "keep running"
    fixed = dataclasses.replace(waiting, spec=shipped.spec.model_copy(update={"sequential": False}))
    assert decide(fixed).recommendation == "ship"


def test_inconclusive_guardrail_keeps_running(better: EventLog) -> None:
    metrics = [{"name": "ctr", "kind": "ratio", "event": "click"},
               {"name": "load", "kind": "mean", "event": "click", "higher_is_better": False}]
    harm = analyze(better, _spec(metrics=metrics, primary="ctr")).effect("treatment", "load").effect.relative
    assert harm is not None and harm > 0
    # a margin equal to the estimated harm: the interval straddles it, so the guardrail cannot decide
    result = analyze(better, _spec(metrics=metrics, primary="ctr", guardrails=[{"metric": "load", "margin": harm}]))
    assert result.guardrails[0].result.verdict == "inconclusive"
    decision = decide(result)
    assert decision.recommendation == "keep running"
    assert "not yet shown to hold" in decision.reasons[0]


def test_promote_on_ship_moves_the_champion_with_the_experiment_in_the_reason(
        shipped: ExperimentAnalysis, tmp_path: Path) -> None:
    registry = Registry(Workspace.open(tmp_path / "ws", env={}))
    v1 = register(registry, make_artifact(tmp_path / "a1"), name="feed")
    v2 = register(registry, make_artifact(tmp_path / "a2", {"family": "linear", "coef": [2.0]}), name="feed")
    registry.promote("feed", v1.version, reason="first")
    waiting = Decision("keep running", ["not yet"])
    assert promote_on_ship(waiting, registry, "feed", v2.version, experiment="exp1") is None
    assert registry.aliases("feed") == {"champion": v1.version}
    decision = decide(shipped)
    change = promote_on_ship(decision, registry, "feed", v2.version, experiment="exp1")
    assert change is not None
    assert (change.from_version, change.to_version) == (v1.version, v2.version)
    assert change.reason == f"experiment exp1: ship ({decision.summary})"
    assert registry.aliases("feed") == {"champion": v2.version}
    assert registry.alias_history("feed", "champion")[-1].reason.startswith("experiment exp1: ship (ctr treatment")
