"""``ExperimentSpec``: defaults, normalised weights, YAML loading and errors that name the key and the fix."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from loopline import ExperimentError
from loopline.experiments import ExperimentSpec, _definition

BASE: dict[str, Any] = {"name": "exp1", "arms": {"control": 0.5, "treatment": 0.5}}


def test_defaults() -> None:
    spec = ExperimentSpec.from_dict(BASE)
    assert [(m.name, m.kind, m.event) for m in spec.metrics] == [
        ("engagement", "proportion", "click"), ("clicks_per_user", "mean", "click"), ("ctr", "ratio", "click")]
    assert spec.metric("ctr").denominator == "exposures"
    assert spec.metric("clicks_per_user").value == "count"
    assert spec.primary == "ctr"
    assert (spec.control, spec.unit, spec.alpha, spec.correction) == ("control", "unit_id", 0.05, "holm")
    assert spec.sequential and not spec.aa and spec.cuped is None and spec.guardrails == ()
    assert spec.events == ("click",)


def test_weights_are_normalised_and_control_comes_first() -> None:
    spec = ExperimentSpec.from_dict({"name": "e", "control": "base", "arms": {"a": 1, "base": 2, "b": 1}})
    assert spec.arm_names == ("base", "a", "b")
    assert spec.treatments == ("a", "b")
    assert spec.shares == pytest.approx((0.5, 0.25, 0.25))


def test_spec_is_frozen() -> None:
    spec = ExperimentSpec.from_dict(BASE)
    with pytest.raises(pydantic.ValidationError):
        spec.alpha = 0.1  # type: ignore[misc]


def test_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("""
name: ranker-v3
arms: {control: 1, treatment: 3}
deployment: feed
start: 2026-03-02T00:00:00Z
end: 2026-03-16T09:30:00+02:00
metrics:
  - {name: ctr, kind: ratio, event: click}
  - {name: revenue, kind: mean, event: purchase, value: sum}
  - {name: likes_per_click, kind: ratio, event: like, denominator: click}
  - {name: latency_hit, kind: proportion, event: timeout, higher_is_better: false}
primary: ctr
guardrails: [{metric: latency_hit, margin: 0.05}]
correction: bh
cuped: {pre_days: 14}
sequential: false
""", encoding="utf-8")
    spec = ExperimentSpec.load(path)
    assert spec.end == datetime(2026, 3, 16, 7, 30, tzinfo=UTC) and spec.end.tzinfo == UTC
    assert spec.shares == (0.25, 0.75)
    assert spec.events == ("click", "purchase", "like", "timeout")
    assert spec.guardrails[0].relative and spec.cuped is not None and spec.cuped.pre_days == 14
    assert ExperimentSpec.from_dict(spec.model_dump()) == spec


@pytest.mark.parametrize(("change", "message"), [
    ({"primry": "ctr"}, "exp.yaml, primry: unknown key 'primry'; did you mean 'primary'?"),
    ({"arms": {"control": 1, "treatment": -1}}, "exp.yaml, arms: every arm needs a non-empty name and a positive "
                                                "weight, got {'treatment': -1.0}"),
    ({"arms": {"control": 1}}, "exp.yaml, arms: an experiment needs a control and at least one treatment arm"),
    ({"arms": {"base": 1, "treatment": 1}}, "exp.yaml, control: 'control' is not one of the arms ['base', "
                                            "'treatment']; name the control arm with 'control:'"),
    ({"primary": "ctrr"}, "exp.yaml, primary: 'ctrr' is not a metric (did you mean 'ctr'?); choose one of "
                          "engagement, clicks_per_user, ctr."),
    ({"metrics": [{"name": "a", "kind": "mean"}, {"name": "b", "kind": "mean"}]},
     "exp.yaml, primary: required when several metrics are given. Add 'primary:'"),
    ({"metrics": [{"name": "a", "kind": "mean", "evnt": "x"}], "primary": "a"},
     "exp.yaml, metrics[0].evnt: unknown key 'evnt'; did you mean 'event'?"),
    ({"metrics": [{"name": "a", "kind": "median"}], "primary": "a"}, "exp.yaml, metrics[0].kind: Input should be "
                                                                     "'proportion', 'mean' or 'ratio'"),
    ({"metrics": [{"name": "a", "kind": "mean", "denominator": "click"}], "primary": "a"},
     "'denominator' applies to ratio metrics only"),
    ({"metrics": [{"name": "a", "kind": "proportion", "value": "sum"}], "primary": "a"},
     "remove 'value: sum' or use kind: mean (metric 'a')"),
    ({"metrics": [{"name": "a", "kind": "mean"}, {"name": "a", "kind": "ratio"}], "primary": "a"},
     "metrics: the name 'a' is used twice"),
    ({"guardrails": [{"metric": "ctr", "margin": 0}]}, "exp.yaml, guardrails[0].margin: Input should be greater "
                                                       "than 0, got 0."),
    ({"guardrails": [{"metric": "cpu", "margin": 0.1}]}, "guardrails[0].metric: 'cpu' is not a metric"),
    ({"start": "2026-03-02T00:00:00"}, "exp.yaml, start: Input should have timezone info, got "
                                       "'2026-03-02T00:00:00'. Write a UTC time with its zone"),
    ({"start": "2026-03-05T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "end (2026-03-01T00:00:00+00:00) must "
                                                                       "come after start"),
    ({"cuped": {"pre_day": 7}}, "exp.yaml, cuped.pre_day: unknown key 'pre_day'; did you mean 'pre_days'?"),
    ({"alpha": 0.7}, "exp.yaml, alpha: Input should be less than 0.5, got 0.7."),
    ({"correction": "bonferroni"}, "exp.yaml, correction: Input should be 'holm' or 'bh'"),
])
def test_errors_name_the_key_and_the_fix(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ExperimentError) as caught:
        ExperimentSpec.from_dict({**BASE, **change}, source="exp.yaml")
    assert message in str(caught.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"no such experiment spec file"):
        ExperimentSpec.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: e\narms: {control: 1\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"bad.yaml line 3, column 1: not valid YAML"):
        ExperimentSpec.load(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- name\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"list.yaml: expected a mapping of keys .* got list"):
        ExperimentSpec.load(listed)


def test_unknown_metric_lookup_names_the_metrics() -> None:
    with pytest.raises(ExperimentError, match=r"has no metric 'cpu'; metrics: engagement, clicks_per_user, ctr"):
        ExperimentSpec.from_dict(BASE).metric("cpu")


def test_docstring_example_runs() -> None:
    assert doctest.testmod(_definition).failed == 0


@pytest.mark.parametrize("name", ["../../../escape", "/tmp/escape", "a/b", "..", ".hidden", "with space", "",
                                  "x" * 101])
def test_an_experiment_name_is_a_plain_folder_name(name: str, tmp_path: Path) -> None:
    message = (f"exp.yaml, name: experiment name {name!r} is not usable: expected 1-100 letters, digits, '_', '.' or "
               "'-', starting with a letter or digit (e.g. 'ranker-ab'), so that it is safe as a folder name. "
               "Rename it.")
    with pytest.raises(ExperimentError) as caught:
        ExperimentSpec.from_dict({**BASE, "name": name}, source="exp.yaml")
    assert str(caught.value) == message
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: {name!r}\narms: {{control: 1, treatment: 1}}\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match="is not usable"):
        ExperimentSpec.load(path)


@pytest.mark.parametrize(("change", "message"), [
    ({"arms": {"control": 1, "../treatment": 1}}, "exp.yaml, arms: arm name '../treatment' is not usable"),
    ({"arms": {"control": 1, "": 1}}, "exp.yaml, arms: arm name '' is not usable"),
    ({"deployment": "feed/../../x"}, "exp.yaml, deployment: deployment name 'feed/../../x' is not usable"),
])
def test_arm_and_deployment_names_follow_the_same_rule(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ExperimentError) as caught:
        ExperimentSpec.from_dict({**BASE, **change}, source="exp.yaml")
    assert str(caught.value).startswith(message)
