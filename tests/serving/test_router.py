"""Routing: sticky assignment that matches events.assign, weights honoured, independent salts, shadows,
holdout, interleaving and kill switches; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from loopline import InputError, ServingError
from loopline.events import assign
from loopline.loop import train
from loopline.registry import ControlKind, ModelVersion, Registry
from loopline.serving._deployment import DeploymentSpec, deploy
from loopline.serving._router import Route, Router
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec, make_customers
from tests.registry.conftest import start, workspace  # noqa: F401 - the sqlite/postgres workspace fixture

UNITS = [f"u{i}" for i in range(20_000)]
ROWS = make_customers(5, seed=3).drop(columns=["churned"]).to_dict("records")


def train_small(tmp_path_factory: pytest.TempPathFactory) -> ModelVersion:
    """One small model, trained once per module; tests register copies of it as versions 1-4."""
    folder = tmp_path_factory.mktemp("trained")
    make_customers(800).to_csv(folder / "customers.csv", index=False)
    (folder / "loopline.yaml").write_text(yaml.safe_dump(customers_spec(folder / "customers.csv")),
                                          encoding="utf-8")
    outcome = train(ProblemSpec.load(folder / "loopline.yaml"), Workspace.open(folder / "ws", env={}), n_boot=10)
    return outcome.version


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> ModelVersion:
    return train_small(tmp_path_factory)


def populate(registry: Registry, trained: ModelVersion, versions: int = 4) -> Registry:
    """Model 'churn' v1..v{versions}: v1 champion, v2 challenger."""
    run = start(registry)
    for _ in range(versions):
        registry.register_model(
            name="churn", run_id=run.run_id, artifact_dir=trained.artifact_path, sha256=trained.sha256,
            family=trained.family, task=trained.task, features=list(trained.features), metrics=trained.metrics,
            baselines_beaten=list(trained.baselines_beaten), spec_hash=trained.spec_hash,
            data_fingerprint=trained.data_fingerprint, code_version=trained.code_version, profile=None)
    registry.promote("churn", 1, reason="first")
    registry.set_alias("churn", "challenger", 2, reason="retrained")
    return registry


@pytest.fixture
def models(workspace: Workspace, trained: ModelVersion) -> Registry:  # noqa: F811 - the imported fixture
    return populate(Registry(workspace), trained)


def feed(**over: Any) -> DeploymentSpec:
    data: dict[str, Any] = {
        "name": "feed", "model": "churn", "experiment": "ab",
        "arms": {"control": {"version": "champion", "weight": 0.5}, "treatment": {"version": "challenger",
                                                                                  "weight": 0.5}},
    }
    data.update(over)
    return DeploymentSpec.from_dict(data)


def version(route: Route) -> int | None:
    return None if route.scorer is None else route.scorer.version


def arms_of(router: Router, units: list[str]) -> list[str]:
    return [router.route(u).arm for u in units]


# assignment ---------------------------------------------------------------------------------------

def test_assignment_is_sticky_across_routers_and_is_events_assign(models: Registry) -> None:
    deploy(models, feed(arms={"control": {"version": 1, "weight": 0.6}, "treatment": {"version": 2, "weight": 0.4}}))
    first, second = Router(models, "feed"), Router(models, "feed")
    units = UNITS[:3000]
    arms = arms_of(first, units)
    assert arms == arms_of(second, units) == arms_of(first, units)
    assert arms == assign("ab", units, {"control": 0.6, "treatment": 0.4}).tolist()
    served = {r.arm: version(r) for r in map(first.route, units[:200])}
    assert served == {"control": 1, "treatment": 2}
    assert first.route(7).arm == first.route("7").arm  # an integer id is its decimal text, as in events.assign


def test_the_holdout_and_the_canary_are_carved_with_their_own_salts(models: Registry) -> None:
    deploy(models, feed(holdout=0.1, canary={"version": 3, "share": 0.2}))
    router = Router(models, "feed")
    units = UNITS[:5000]
    held = assign("x", units, {"in": 0.1, "out": 0.9}, salt="holdout:feed") == "in"
    canary = assign("x", units, {"in": 0.2, "out": 0.8}, salt="canary:feed") == "in"
    arm = assign("ab", units, {"control": 0.5, "treatment": 0.5})
    expected = np.where(held, "holdout", np.where(canary, "canary", arm)).tolist()
    routes = [router.route(u) for u in units]
    assert [r.arm for r in routes] == expected
    holdout = [r for r in routes if r.arm == "holdout"]
    assert all(r.scorer is None and r.experiment == "feed.holdout" and r.shadows == () for r in holdout)
    assert {version(r) for r in routes if r.arm == "canary"} == {3}
    assert all(r.experiment is None for r in routes if r.arm == "canary")


def test_exploration_takes_its_share_after_the_holdout_with_its_own_salt_and_the_control_model(
        models: Registry) -> None:
    deploy(models, feed(holdout=0.1, explore=0.05))
    router = Router(models, "feed")
    units = UNITS[:10_000]
    held = assign("x", units, {"in": 0.1, "out": 0.9}, salt="holdout:feed") == "in"
    explored = assign("x", units, {"in": 0.05, "out": 0.95}, salt="explore:feed") == "in"
    arm = assign("ab", units, {"control": 0.5, "treatment": 0.5})
    routes = [router.route(u) for u in units]
    assert [r.arm for r in routes] == np.where(held, "holdout", np.where(explored, "explore", arm)).tolist()
    explore = [r for r in routes if r.arm == "explore"]
    assert stats.binomtest(len(explore), int((~held).sum()), 0.05).pvalue > 0.01
    assert all(r.explore and version(r) == 1 and r.experiment is None for r in explore)  # control's model, no A/B
    assert not any(r.explore for r in routes if r.arm != "explore")
    deploy(models, feed(holdout=0.1, explore=0.2))  # a larger share moves no unit of the holdout or the arms
    moved = Router(models, "feed")
    assert all(moved.route(u).arm in (r.arm, "explore") for u, r in zip(units, routes, strict=True))
    with pytest.raises(ServingError, match=r"explore: a share of units is at least 0\.0001"):
        feed(explore=0.00001)


def test_weights_are_honoured(models: Registry) -> None:
    weights = {"control": 0.5, "treatment": 0.3, "bold": 0.2}
    deploy(models, feed(arms={arm: {"version": v, "weight": w} for (arm, w), v in zip(weights.items(), (1, 2, 3),
                                                                                        strict=True)},
                        holdout=0.05))
    counts = Counter(arms_of(Router(models, "feed"), UNITS))
    held = counts.pop("holdout")
    assert stats.binomtest(held, len(UNITS), 0.05).pvalue > 0.01
    observed = [counts[arm] for arm in weights]
    expected = [w * sum(observed) for w in weights.values()]
    assert stats.chisquare(observed, expected).pvalue > 0.01
    assert sum(observed) + held == len(UNITS)


def test_changing_one_experiments_weights_keeps_another_experiments_assignments(models: Registry) -> None:
    deploy(models, feed(holdout=0.05))
    deploy(models, feed(name="feed2", experiment="cd"))
    other, router = Router(models, "feed2"), Router(models, "feed")
    units = UNITS[:5000]
    before_other, before = arms_of(other, units), arms_of(router, units)
    deploy(models, feed(holdout=0.05, arms={"control": {"version": "champion", "weight": 0.8},
                                            "treatment": {"version": "challenger", "weight": 0.2}}))
    assert router.refresh() and not other.refresh()
    after = arms_of(router, units)
    assert arms_of(other, units) == before_other
    # The holdout does not move, and the ramp only moves units from the arm before the last into the last.
    assert [a == "holdout" for a in after] == [b == "holdout" for b in before]
    moved = Counter((b, a) for b, a in zip(before, after, strict=True) if b != a)
    assert set(moved) == {("treatment", "control")}
    # Adding a canary takes its units; everyone else keeps the arm they had.
    deploy(models, feed(holdout=0.05, canary={"version": 3, "share": 0.1},
                        arms={"control": {"version": "champion", "weight": 0.8},
                              "treatment": {"version": "challenger", "weight": 0.2}}))
    router.refresh()
    with_canary = arms_of(router, units)
    assert all(c == a for c, a in zip(with_canary, after, strict=True) if c != "canary")
    assert 0.07 < with_canary.count("canary") / len(units) < 0.13


# what is served -----------------------------------------------------------------------------------

def test_shadows_are_never_the_served_scorer(models: Registry) -> None:
    deploy(models, feed(shadows=["challenger", 3], canary={"version": 3, "share": 0.2}))
    router = Router(models, "feed")
    routes = [router.route(u) for u in UNITS[:500]]
    for route in routes:
        assert route.scorer is not None
        assert all(shadow is not route.scorer for shadow in route.shadows)
    shadows = {r.arm: sorted(s.version or 0 for s in r.shadows) for r in routes}
    assert shadows == {"control": [2, 3], "treatment": [3], "canary": [2]}
    assert sorted(s.version or 0 for s in router.scorers()) == [1, 2, 3]  # loaded once each
    scores = routes[0].scorer.score(ROWS) if routes[0].scorer is not None else None
    assert scores is not None and scores.shape == (5,)


def test_interleaving_merges_the_first_two_arms(models: Registry) -> None:
    deploy(models, feed(interleave=True, shadows=[3, 2]))
    route = Router(models, "feed").route("u1")
    assert route.arm == "interleaved" and route.experiment == "ab" and route.first_exposure
    assert (version(route), route.interleave_with and route.interleave_with.version) == (1, 2)
    assert [s.version for s in route.shadows] == [3]


def test_first_exposure_once_per_unit_and_experiment_in_a_worker(models: Registry) -> None:
    deploy(models, feed(holdout=0.5))
    router = Router(models, "feed", max_seen=3)
    units = ["a", "b", "c"]
    assert [router.route(u).first_exposure for u in units] == [True] * 3
    assert [router.route(u).first_exposure for u in units] == [False] * 3
    assert Router(models, "feed").route("a").first_exposure  # another worker has its own memory
    router.route("d")  # a fourth unit pushes out the oldest: 'a' logs its assignment again
    assert router.route("a").first_exposure and not router.route("d").first_exposure
    anonymous = router.route(None)
    assert (anonymous.arm, anonymous.experiment, anonymous.first_exposure, version(anonymous)) == (
        "control", None, False, 1)


def test_a_bare_model_is_served_its_champion(models: Registry) -> None:
    router = Router(models, "churn")
    route = router.route("u1")
    assert (route.arm, route.experiment, version(route), route.first_exposure) == ("champion", None, 1, False)
    assert router.revision is None and router.spec == DeploymentSpec.for_model("churn")


def test_unknown_names_and_bad_unit_ids_are_refused(models: Registry) -> None:
    with pytest.raises(ServingError, match=r"nothing to serve under 'fed': it is neither a deployment nor a model in "
                                           r"the registry \(models: churn\)\. Deploy one with 'loopline deploy FILE'"):
        Router(models, "fed")
    router = Router(models, "churn")
    with pytest.raises(InputError, match=r"unit_id: expected a string or an integer, got 1\.5 \(float\)\.") as info:
        router.route(1.5)  # type: ignore[arg-type]
    assert info.value.field == "unit_id"


# kill switches ------------------------------------------------------------------------------------

def test_a_killed_version_falls_back_to_the_champion_and_a_killed_champion_to_the_baseline(
        models: Registry) -> None:
    deploy(models, feed(shadows=[2, 4], canary={"version": 3, "share": 0.2}))
    router = Router(models, "feed")
    units = UNITS[:400]
    arms = arms_of(router, units)

    models.set_killed("model", "churn", True, "bad scores", version="challenger")
    assert router.refresh()
    routes = {arm: router.route(u) for u, arm in zip(units, arms, strict=True)}
    treatment = routes["treatment"]
    assert (treatment.arm, version(treatment), treatment.experiment) == ("control", 1, None)
    assert treatment.fallback == "model churn v2 killed"
    assert [s.version for s in routes["control"].shadows] == [4]  # a killed shadow is not scored either

    models.set_killed("model", "churn", True, "canary too", version=3)
    models.set_killed("model", "churn", True, "champion broken", version=1)
    router.refresh()
    assert router.killed() == ["model churn v1", "model churn v2", "model churn v3"]
    routes = {arm: router.route(u) for u, arm in zip(units, arms, strict=True)}
    assert {arm: (r.arm, version(r), r.fallback) for arm, r in routes.items()} == {
        "control": ("baseline", None, "model churn v1 killed"),
        "treatment": ("baseline", None, "model churn v2 killed; the champion v1 is killed too"),
        "canary": ("baseline", None, "model churn v3 killed; the champion v1 is killed too"),
    }
    models.set_killed("model", "churn", False, "fixed", version=1)
    router.refresh()
    assert version(router.route(units[arms.index("control")])) == 1
    assert version(router.route(units[arms.index("canary")])) == 1  # the canary still killed: the champion


def test_a_killed_model_or_deployment_serves_everyone_the_baseline(models: Registry) -> None:
    deploy(models, feed(interleave=True))
    router = Router(models, "feed")
    models.set_killed("model", "churn", True, "incident")
    router.refresh()
    route = router.route("u1")
    assert (route.arm, route.scorer, route.interleave_with, route.fallback) == (
        "baseline", None, None, "model churn killed")
    assert router.scorers() == []  # nothing of a killed model stays loaded
    models.set_killed("model", "churn", False, "over")
    models.set_killed("deployment", "feed", True, "incident")
    router.refresh()
    assert {(r.arm, r.scorer, r.fallback) for r in map(router.route, [*UNITS[:50], None])} == {
        ("baseline", None, "deployment feed killed")}
    models.set_killed("deployment", "feed", False, "over")
    router.refresh()
    assert router.route("u1").arm == "interleaved"


def test_a_killed_experiment_serves_everyone_its_control(models: Registry) -> None:
    deploy(models, feed(holdout=0.1))
    router = Router(models, "feed")
    assert router.killed() == []
    models.set_killed("experiment", "ab", True, "sample ratio mismatch")
    router.refresh()
    assert router.killed() == ["experiment ab"]
    routes = [router.route(u) for u in UNITS[:300]]
    served = {(r.arm, version(r), r.experiment, r.first_exposure, r.fallback) for r in routes if r.arm != "holdout"}
    assert served == {("control", 1, None, False, "experiment ab killed")}
    assert sum(r.arm == "holdout" for r in routes) > 0  # the holdout is not the killed experiment


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(killed=st.sets(st.sampled_from(["v1", "v2", "v3", "v4", "model", "experiment", "deployment"])))
def test_the_kill_switch_always_wins(models: Registry, killed: set[str]) -> None:
    deploy(models, feed(shadows=[4], canary={"version": 3, "share": 0.3}, holdout=0.1))
    router = Router(models, "feed")
    for control in models.controls():  # hypothesis reuses the fixture: start from no switches
        models.set_killed(control.kind, control.name, False, "reset", version=control.version)
    for target in killed:
        if target.startswith("v"):
            models.set_killed("model", "churn", True, "t", version=int(target[1:]))
        else:
            names: dict[ControlKind, str] = {"model": "churn", "experiment": "ab", "deployment": "feed"}
            kind = cast(ControlKind, target)
            models.set_killed(kind, names[kind], True, "t")
    router.refresh()
    dead = {1, 2, 3, 4} if "model" in killed else {int(t[1:]) for t in killed if t.startswith("v")}
    for route in map(router.route, UNITS[:300]):
        used = [s for s in (route.scorer, route.interleave_with, *route.shadows) if s is not None]
        assert not {s.version for s in used} & dead
        if "deployment" in killed:
            assert route.scorer is None
        if "experiment" in killed:
            assert route.experiment in (None, "feed.holdout")


def test_routing_one_unit_takes_microseconds(models: Registry) -> None:
    deploy(models, feed(holdout=0.05, canary={"version": 3, "share": 0.1}, shadows=[4]))
    router = Router(models, "feed")
    units = UNITS[:5000]
    clock = time.perf_counter()
    for unit in units:
        router.route(unit)
    per_route_us = (time.perf_counter() - clock) / len(units) * 1e6
    assert per_route_us < 200  # measured about 5 us; generous for a busy machine


def test_deploy_reads_a_yaml_file(models: Registry, tmp_path: Path) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(yaml.safe_dump(feed().to_dict()), encoding="utf-8")
    stored = deploy(models, path, actor="ana", reason="first A/B")
    assert (stored.revision, stored.actor, stored.reason) == (1, "ana", "first A/B")
    assert DeploymentSpec.from_dict(models.deployment("feed").spec) == feed()
