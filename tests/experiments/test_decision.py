"""``decide`` for each branch, and ``promote_on_ship`` moving the champion alias on a real registry only to the
version the shipping arm served."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from loopline import ExperimentError
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


@pytest.fixture
def feed(tmp_path: Path) -> Registry:
    """A registry with model 'feed' v1 (champion, served by control) and v2 (served by treatment)."""
    registry = Registry(Workspace.open(tmp_path / "ws", env={}))
    v1 = register(registry, make_artifact(tmp_path / "a1"), name="feed")
    register(registry, make_artifact(tmp_path / "a2", {"family": "linear", "coef": [2.0]}), name="feed")
    registry.promote("feed", v1.version, reason="first")
    return registry


@pytest.fixture(scope="module")
def shipped_with_versions(better: EventLog, tmp_path_factory: pytest.TempPathFactory) -> ExperimentAnalysis:
    root = tmp_path_factory.mktemp("versions")
    registry = Registry(Workspace.open(root / "ws", env={}))
    for i in (1, 2):
        register(registry, make_artifact(root / f"a{i}", {"family": "linear", "coef": [float(i)]}), name="feed")
    return analyze(better, _spec(guardrails=[{"metric": "engagement", "margin": 0.2}]), registry=registry,
                   model_name="feed")


def _served(analysis: ExperimentAnalysis, **served: tuple[tuple[str | None, int], ...]) -> ExperimentAnalysis:
    rows = tuple(dataclasses.replace(o, served=served.get(o.arm, o.served)) for o in analysis.offline_online)
    return dataclasses.replace(analysis, offline_online=rows)


def test_promote_on_ship_moves_the_champion_with_the_experiment_in_the_reason(
        shipped_with_versions: ExperimentAnalysis, feed: Registry) -> None:
    waiting = Decision("keep running", ["not yet"])
    assert promote_on_ship(shipped_with_versions, waiting, feed, "feed", 2) is None
    assert feed.aliases("feed") == {"champion": 1}
    decision = decide(shipped_with_versions)
    change = promote_on_ship(shipped_with_versions, decision, feed, "feed", 2)
    assert change is not None
    assert (change.from_version, change.to_version) == (1, 2)
    assert change.reason == f"experiment exp1: ship ({decision.summary})"
    assert feed.aliases("feed") == {"champion": 2}
    assert feed.alias_history("feed", "champion")[-1].reason.startswith("experiment exp1: ship (ctr treatment")


def test_the_served_versions_per_arm_come_from_the_exposure_log(shipped_with_versions: ExperimentAnalysis) -> None:
    control, treatment = shipped_with_versions.offline_online
    exposures = {a.arm: a.exposures for a in shipped_with_versions.arms}
    assert control.served == (("v1", exposures["control"]),)
    assert treatment.served == (("v2", exposures["treatment"]),)


def test_promote_on_ship_refuses_a_version_the_winning_arm_did_not_serve(
        shipped_with_versions: ExperimentAnalysis, feed: Registry) -> None:
    decision = decide(shipped_with_versions)
    with pytest.raises(ExperimentError) as caught:
        promote_on_ship(shipped_with_versions, decision, feed, "feed", 1)
    message = str(caught.value)
    n = shipped_with_versions.arms[1].exposures
    assert message == (f"experiment 'exp1', --promote-on-ship 1: the winning arm 'treatment' served v2 (100.0% of "
                       f"{n:,} exposures) during the experiment, not version 1. Promote the version whose effect "
                       "was measured: --promote-on-ship 2.")
    assert feed.aliases("feed") == {"champion": 1}
    assert len(feed.alias_history("feed", "champion")) == 1


def test_an_arm_that_served_several_versions_promotes_none_of_them(
        shipped_with_versions: ExperimentAnalysis, feed: Registry) -> None:
    mixed = _served(shipped_with_versions, treatment=(("v2", 600), ("3", 400)))
    decision = decide(mixed)
    for version in (2, 3):
        with pytest.raises(ExperimentError, match=r"served v2 \(60\.0% of 1,000 exposures\), 3 \(40\.0% of 1,000 "
                                                  rf"exposures\) during the experiment, not version {version} alone; "
                                                  "its effect belongs to that mix"):
            promote_on_ship(mixed, decision, feed, "feed", version)
    with pytest.raises(ExperimentError, match="not version 5; its effect belongs to that mix"):
        promote_on_ship(mixed, decision, feed, "feed", 5)
    assert feed.aliases("feed") == {"champion": 1}
    # "2" and "v2" name the same version
    same = _served(shipped_with_versions, treatment=(("v2", 600), ("2", 400)))
    change = promote_on_ship(same, decide(same), feed, "feed", 2)
    assert change is not None and change.to_version == 2


def test_exposures_without_a_model_version_leave_nothing_to_check(
        shipped_with_versions: ExperimentAnalysis, feed: Registry) -> None:
    blind = _served(shipped_with_versions, treatment=((None, 1000),))
    with pytest.raises(ExperimentError, match="the served exposures of the winning arm 'treatment' carry no "
                                              "model_version, so there is nothing to check version 2 against"):
        promote_on_ship(blind, decide(blind), feed, "feed", 2)
    partly = _served(shipped_with_versions, treatment=(("v2", 900), (None, 100)))
    with pytest.raises(ExperimentError, match=r"v2 \(90\.0% of 1,000 exposures\), no model_version \(10\.0%"):
        promote_on_ship(partly, decide(partly), feed, "feed", 2)
    policy = _served(shipped_with_versions, treatment=(("sim-policy", 1000),))
    with pytest.raises(ExperimentError, match="'sim-policy' is not a version number"):
        promote_on_ship(policy, decide(policy), feed, "feed", 2)
    unknown = dataclasses.replace(shipped_with_versions, offline_online=())
    with pytest.raises(ExperimentError, match="no model versions per arm"):
        promote_on_ship(unknown, decide(unknown), feed, "feed", 2)
    assert feed.aliases("feed") == {"champion": 1}


def test_with_several_treatments_the_arm_that_ships_is_checked(
        shipped_with_versions: ExperimentAnalysis, feed: Registry) -> None:
    base = shipped_with_versions.offline_online[1]
    other = dataclasses.replace(base, arm="other", served=(("v1", 1000),))
    three = dataclasses.replace(shipped_with_versions, offline_online=(*shipped_with_versions.offline_online, other))
    decision = Decision("ship", ["better"], arm="other", summary="ctr other vs control: +20%")
    with pytest.raises(ExperimentError, match="the winning arm 'other' served v1"):
        promote_on_ship(three, decision, feed, "feed", 2)
    assert feed.aliases("feed") == {"champion": 1}
    register(feed, make_artifact(feed.workspace.root / "a3", {"family": "linear", "coef": [3.0]}), name="feed")
    feed.promote("feed", 3, reason="third")
    change = promote_on_ship(three, decision, feed, "feed", 1)
    assert change is not None and (change.from_version, change.to_version) == (3, 1)
