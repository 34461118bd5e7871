"""The deployment YAML: defaults, a round trip through the registry's JSON, and errors that name the key."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopline import ServingError
from loopline.serving import _deployment
from loopline.serving._deployment import DeploymentSpec

FULL = """\
name: feed
model: ranker
experiment: ranker-ab
arms:
  control: {version: champion, weight: 0.7}
  treatment: {version: v3, weight: 0.3}
shadows: [4, challenger]
canary: {version: 5, share: 0.05, max_error_rate: 0.02, max_p99_ms: 50, window_s: 30, min_requests: 200}
holdout: 0.02
"""


def test_a_full_deployment_loads_with_its_arms_in_order(tmp_path: Path) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(FULL, encoding="utf-8")
    spec = DeploymentSpec.load(path)
    assert (spec.name, spec.model, spec.experiment, spec.control) == ("feed", "ranker", "ranker-ab", "control")
    assert spec.weights == {"control": 0.7, "treatment": 0.3}
    assert spec.arms["treatment"].version == 3  # 'v3' is a version number, 'champion' an alias
    assert spec.shadows == (4, "challenger")
    assert spec.canary is not None and (spec.canary.version, spec.canary.share, spec.canary.max_p99_ms) == (5, 0.05, 50)
    assert (spec.holdout, spec.interleave, spec.holdout_experiment) == (0.02, False, "feed.holdout")
    assert (spec.holdout_salt, spec.canary_salt) == ("holdout:feed", "canary:feed")
    assert DeploymentSpec.from_dict(spec.to_dict()) == spec  # what the registry stores reads back the same
    assert yaml.safe_load(yaml.safe_dump(spec.to_dict())) == spec.to_dict()


def test_a_bare_deployment_serves_the_champion_to_everyone() -> None:
    spec = DeploymentSpec.from_dict({"name": "feed", "model": "ranker"})
    assert {arm: (a.version, a.weight) for arm, a in spec.arms.items()} == {"champion": ("champion", 1.0)}
    assert (spec.experiment, spec.shadows, spec.canary, spec.holdout) == (None, (), None, 0.0)
    canary = DeploymentSpec.from_dict({"name": "f", "model": "m", "canary": {"version": 2, "share": 0.1}}).canary
    assert canary is not None
    assert (canary.max_error_rate, canary.max_p99_ms, canary.window_s, canary.min_requests) == (0.01, None, 60.0, 100)
    assert DeploymentSpec.for_model("ranker") == DeploymentSpec.from_dict({"name": "ranker", "model": "ranker"})


TWO_ARMS = {"control": {"version": "champion", "weight": 0.5}, "treatment": {"version": 3, "weight": 0.5}}


@pytest.mark.parametrize(("over", "message"), [
    ({"modle": "x"}, "feed.yaml, modle: unknown key 'modle'; did you mean 'model'?"),
    ({"canary": {"version": 2, "share": 0.1, "max_eror_rate": 0.1}},
     "feed.yaml, canary.max_eror_rate: unknown key 'max_eror_rate'; did you mean 'max_error_rate'?"),
    ({"canary": {"share": 0.1}}, "feed.yaml, canary.version: required key is missing. Add 'version:'."),
    ({"canary": {"version": 2, "share": 1.5}}, "feed.yaml, canary.share: Input should be less than 1, got 1.5."),
    ({"arms": {"control": {"version": "champion", "weight": 0.5}, "treatment": {"version": 3, "weight": 0.4}},
      "experiment": "ab"},
     "feed.yaml, arms: the weights must sum to 1, got 0.9 (control: 0.5, treatment: 0.4); they are the shares of "
     "units each arm serves."),
    ({"arms": TWO_ARMS}, "feed.yaml, experiment: required when there are several arms; name the experiment (it salts "
                         "the assignment, and 'loopline experiment analyze' finds the arms by it)."),
    ({"experiment": "ab"}, "feed.yaml, experiment: an experiment compares at least two arms; add an arm or remove "
                           "'experiment'."),
    ({"arms": {"a": {"version": 1, "weight": 0.4}, "b": {"version": 2, "weight": 0.3},
               "c": {"version": 3, "weight": 0.3}}, "experiment": "ab", "interleave": True},
     "feed.yaml, interleave: team-draft interleaving merges the rankings of two arms, got 3 (a, b, c); give exactly "
     "two arms or set interleave: false."),
    ({"arms": {"control": {"version": 0, "weight": 1}}}, "feed.yaml, arms.control.version: version numbers start at "
                                                         "1, got 0."),
    ({"arms": {"control": {"version": True, "weight": 1}}},
     "feed.yaml, arms.control.version: expected a version number like 3 or an alias like 'champion', got True."),
    ({"arms": {"holdout": {"version": 1, "weight": 1}}},
     "feed.yaml, arms: 'holdout' is the name of the deployment's own holdout route; name the arm otherwise."),
    ({"arms": {"my arm": {"version": 1, "weight": 1}}}, "feed.yaml, arms: arm name 'my arm' is not usable"),
    ({"arms": {}}, "feed.yaml, arms: give at least one arm, e.g. {champion: {version: champion, weight: 1}}."),
    ({"shadows": [3, "v3"]}, "feed.yaml, shadows: '3' is listed twice; list each shadow once"),
    ({"shadows": "challenger"}, "feed.yaml, shadows: expected a list of versions or aliases, e.g. [3, challenger], "
                                "got 'challenger'."),
    ({"holdout": 0.00001}, "feed.yaml, holdout: a share of units is at least 0.0001 (assignment has "
                           "10000 buckets), or 0 for none; got 1e-05."),
    ({"name": "../feed"}, "feed.yaml, name: deployment name '../feed' is not usable"),
    ({"experiment": "feed.holdout", "arms": TWO_ARMS},
     "feed.yaml, experiment: 'feed.holdout' is the name of the deployment's holdout; choose another experiment name."),
])
def test_errors_name_the_file_and_the_key(tmp_path: Path, over: dict[str, Any], message: str) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(yaml.safe_dump({"name": "feed", "model": "ranker", **over}), encoding="utf-8")
    with pytest.raises(ServingError) as info:
        DeploymentSpec.load(path)
    assert str(info.value).startswith(str(tmp_path / message)), str(info.value)


def test_a_missing_key_and_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ServingError, match=r"feed\.yaml: no such deployment file\. Check the path"):
        DeploymentSpec.load(tmp_path / "feed.yaml")
    (tmp_path / "feed.yaml").write_text("name: feed\nmodel: [ranker\n", encoding="utf-8")
    with pytest.raises(ServingError, match=r"feed\.yaml line 3, column 1: not valid YAML"):
        DeploymentSpec.load(tmp_path / "feed.yaml")
    (tmp_path / "feed.yaml").write_text("- feed\n", encoding="utf-8")
    with pytest.raises(ServingError, match=r"feed\.yaml: expected a mapping of keys \(name, model, arms, \.\.\.\), got "
                                           r"list\."):
        DeploymentSpec.load(tmp_path / "feed.yaml")
    with pytest.raises(ServingError, match=r"deployment, model: required key is missing\. Add 'model:'\."):
        DeploymentSpec.from_dict({"name": "feed"})


def test_doctests() -> None:
    assert doctest.testmod(_deployment).failed == 0
