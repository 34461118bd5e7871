"""Deployments with history, the experiments they record, and kill switches: on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopline import RegistryError
from loopline.registry import Control, ExperimentArm, Registry
from loopline.registry._schema import deployments
from tests.registry.conftest import register


@pytest.fixture
def three(registry: Registry, artifact: tuple[Path, str]) -> Registry:
    """Model 'churn' v1-v3, v1 champion, v2 challenger."""
    for _ in range(3):
        register(registry, artifact)
    registry.promote("churn", 1, reason="first")
    registry.set_alias("churn", "challenger", 2, reason="new")
    return registry


def spec(name: str = "feed", *, experiment: str | None = "ab", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name, "model": "churn", "experiment": experiment,
        "arms": {"control": {"version": "champion", "weight": 0.5}, "treatment": {"version": "challenger",
                                                                                  "weight": 0.5}},
        "shadows": [3], "canary": None, "holdout": 0.0, "interleave": False,
    }
    data.update(over)
    return data


def test_each_deploy_is_a_new_active_revision_and_the_old_ones_stay_in_the_history(three: Registry) -> None:
    first = three.deploy(spec(), actor="ana")
    second = three.deploy(spec(shadows=[]), actor="bo", reason="no shadow")
    assert (first.revision, second.revision) == (1, 2)
    assert three.deployment("feed") == second
    assert second.spec["shadows"] == [] and second.actor == "bo" and second.reason == "no shadow"
    history = three.deployment_history("feed")
    assert [(d.revision, d.active, d.actor, d.reason) for d in history] == [(1, False, "ana", "deployed"),
                                                                           (2, True, "bo", "no shadow")]
    assert history[0].spec == spec() and history[1].created_at >= history[0].created_at
    assert three.find_deployment("nope") is None


def test_an_unknown_deployment_lists_the_known_ones(three: Registry) -> None:
    with pytest.raises(RegistryError, match=r"no deployment named 'fed' in the registry; there are no deployments "
                                            r"yet\. Deploy it first with 'loopline deploy FILE'\."):
        three.deployment("fed")
    three.deploy(spec(), actor="ana")
    with pytest.raises(RegistryError, match=r"no deployment named 'fed' in the registry; known deployments: feed\."):
        three.deployment_history("fed")


@pytest.mark.parametrize(("over", "message"), [
    ({"model": "fraud"}, r"deployment 'feed', model: no model named 'fraud' in the registry; known models: churn\."),
    ({"shadows": [7]}, r"deployment 'feed', shadows\[0\]: model 'churn' has no version 7; its versions are 1, 2, 3"),
    ({"arms": {"control": {"version": "champion", "weight": 0.5}, "treatment": {"version": "best", "weight": 0.5}}},
     r"deployment 'feed', arms\.treatment\.version: model 'churn' has no alias 'best'; its aliases are challenger "
     r"-> v2, champion -> v1\."),
    ({"canary": {"version": 9, "share": 0.1}}, r"deployment 'feed', canary\.version: model 'churn' has no version 9"),
    ({"name": "../x"}, r"deployment name '\.\./x' is not usable"),
])
def test_a_deploy_naming_something_missing_says_which_key_and_stores_nothing(
        three: Registry, over: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        three.deploy(spec(**over), actor="ana")
    assert three.find_deployment("feed") is None
    with pytest.raises(RegistryError, match="no experiment named 'ab'"):
        three.experiment("ab")


def test_the_experiment_is_recorded_with_the_versions_its_arms_served(three: Registry) -> None:
    three.deploy(spec(), actor="ana")
    started = three.experiment("ab")
    assert started.deployment == "feed" and started.model == "churn" and started.control == "control"
    assert started.arms == {"control": ExperimentArm(version=1, ref="champion", share=0.5),
                            "treatment": ExperimentArm(version=2, ref="challenger", share=0.5)}
    assert started.ended_at is None and not started.interleave
    # A ramp keeps the start and records the new shares; the alias's version at that moment is kept.
    three.set_alias("churn", "challenger", 3, reason="retrained")
    three.deploy(spec(arms={"control": {"version": "champion", "weight": 0.8},
                            "treatment": {"version": "challenger", "weight": 0.2}}), actor="ana")
    ramped = three.experiment("ab")
    assert ramped.started_at == started.started_at
    assert ramped.arms["treatment"] == ExperimentArm(version=3, ref="challenger", share=0.2)
    # A revision without the experiment ends it; its name cannot be run again.
    three.deploy(spec(experiment=None, arms={"champion": {"version": "champion", "weight": 1.0}}), actor="ana")
    ended = three.experiment("ab")
    assert ended.ended_at is not None and ended.ended_at >= ended.started_at
    with pytest.raises(RegistryError, match=r"deployment 'feed', experiment: 'ab' ran from .* and has ended; "
                                            r"running it again would mix its units.*Choose a new experiment name\."):
        three.deploy(spec(), actor="ana")
    assert three.deployment("feed").revision == 3  # the refused deploy stored nothing


def test_another_experiment_name_ends_the_previous_one(three: Registry) -> None:
    three.deploy(spec(), actor="ana")
    three.deploy(spec(experiment="ab2", interleave=True), actor="ana")
    assert three.experiment("ab").ended_at is not None
    assert three.experiment("ab2").ended_at is None and three.experiment("ab2").interleave


def test_an_experiment_belongs_to_one_deployment(three: Registry) -> None:
    three.deploy(spec(), actor="ana")
    with pytest.raises(RegistryError, match=r"deployment 'other', experiment: 'ab' is already run by deployment "
                                            r"'feed'; an experiment's name is the salt of its assignment"):
        three.deploy(spec("other"), actor="ana")
    assert three.find_deployment("other") is None


def test_end_canary_writes_one_revision_without_the_canary(three: Registry) -> None:
    canary = {"version": 3, "share": 0.1, "max_error_rate": 0.01, "max_p99_ms": None, "window_s": 60.0,
              "min_requests": 100}
    three.deploy(spec(canary=canary), actor="ana")
    ended = three.end_canary("feed", 1, reason="canary churn v3 rolled back: error rate 0.2 > 0.01")
    assert ended is not None and ended.revision == 2 and ended.spec["canary"] is None and ended.actor == "router"
    assert ended.spec == {**spec(canary=canary), "canary": None}
    # A second worker that saw the same failure writes nothing more.
    assert three.end_canary("feed", 1, reason="again") is None
    assert [d.reason for d in three.deployment_history("feed")] == [
        "deployed", "canary churn v3 rolled back: error rate 0.2 > 0.01"]


def test_deploys_from_many_writers_get_distinct_revisions(three: Registry) -> None:
    errors: list[BaseException] = []

    def deploy() -> None:
        try:
            for _ in range(3):
                three.deploy(spec(), actor="ana")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deploy) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    history = three.deployment_history("feed")
    assert [d.revision for d in history] == list(range(1, 13))
    assert [d.active for d in history] == [False] * 11 + [True]


def test_kill_switches_keep_their_history_and_the_newest_row_is_the_state(three: Registry) -> None:
    three.deploy(spec(), actor="ana")
    killed = three.set_killed("model", "churn", True, "bad scores", version="challenger")
    assert (killed.kind, killed.name, killed.version, killed.killed, killed.actor) == ("model", "churn", 2, True, "cli")
    assert killed.target == "model churn v2"
    three.set_killed("experiment", "ab", True, "SRM")
    three.set_killed("model", "churn", False, "fixed", version=2, actor="bo")
    three.set_killed(None, "feed", True, "incident")  # the kind is found: 'feed' is a deployment
    state = {(c.kind, c.name, c.version): c.killed for c in three.controls()}
    assert state == {("deployment", "feed", None): True, ("experiment", "ab", None): True,
                     ("model", "churn", 2): False}
    history = three.controls(history=True)
    assert [(c.name, c.killed, c.reason) for c in history] == [
        ("churn", True, "bad scores"), ("ab", True, "SRM"), ("churn", False, "fixed"), ("feed", True, "incident")]
    assert all(isinstance(c, Control) and c.at.tzinfo is not None for c in history)
    # Moving the alias later does not move the switch: it was pinned to v2.
    three.set_alias("churn", "challenger", 3, reason="retrained")
    assert {c.version for c in three.controls() if c.kind == "model"} == {2}


@pytest.mark.parametrize(("kind", "name", "version", "message"), [
    ("model", "churm", None, r"no model named 'churm' in the registry; known models: churn\."),
    ("model", "churn", 9, r"model 'churn' has no version 9"),
    ("experiment", "abc", None, r"no experiment named 'abc' to switch; known experiments: ab\."),
    ("deployment", "feed", 2, r"only a model's switch takes a version; deployment 'feed' is switched as a whole"),
    ("canary", "feed", None, r"a kill switch targets a model, experiment or deployment, got kind 'canary'"),
    (None, "nothing", None, r"nothing named 'nothing' to switch off: it is not a model, an experiment or a "
                            r"deployment in the registry\. Known models: churn; experiments: ab; deployments: feed\."),
])
def test_a_switch_for_something_that_does_not_exist_is_refused(
        three: Registry, kind: Any, name: str, version: int | None, message: str) -> None:
    three.deploy(spec(), actor="ana")
    with pytest.raises(RegistryError, match=message):
        three.set_killed(kind, name, True, "test", version=version)
    assert three.controls() == []


def test_a_name_shared_by_a_model_and_a_deployment_needs_its_kind(three: Registry) -> None:
    three.deploy(spec("churn", experiment=None, arms={"champion": {"version": "champion", "weight": 1.0}}),
                 actor="ana")
    with pytest.raises(RegistryError, match=r"'churn' names a model and a deployment; say which one to switch \(kind "
                                            r"'model' or 'deployment', '--kind' on the command line\)\."):
        three.set_killed(None, "churn", True, "x")
    assert three.set_killed("deployment", "churn", True, "x").kind == "deployment"


def test_a_switch_needs_a_reason(three: Registry) -> None:
    with pytest.raises(RegistryError, match="give a non-empty reason"):
        three.set_killed("model", "churn", True, " ")


def test_only_the_newest_revision_is_active_in_the_table(three: Registry) -> None:
    for _ in range(3):
        three.deploy(spec(), actor="ana")
    with three._engine.connect() as conn:
        active = conn.execute(sa.select(deployments.c.revision).where(deployments.c.active)).scalars().all()
    assert active == [3]
