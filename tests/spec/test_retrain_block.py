"""The spec's ``retrain:`` block: defaults, durations, every refusal with its key path, the gates and the spec hash."""

from __future__ import annotations

import doctest
from datetime import timedelta
from typing import Any

import pytest
import yaml

from loopline import SpecError
from loopline.spec import (
    METRICS,
    AbGate,
    CanaryGate,
    GatesSpec,
    JudgeSpec,
    ProblemSpec,
    RetrainSpec,
    ShadowGate,
    TriggersSpec,
)
from loopline.spec import _retrain as retrain_module

DOCUMENTED = """
retrain:
  deployment: feed
  triggers:
    schedule: 7d
    drift: true
    drift_ignore: [item_id]
    decay: {metric: roc_auc, drop: 0.02}
  mode: full
  window: 28d
  min_interval: 1d
  judge: {window: 2d, valid: 2d, min_improvement: 0.0, significant: true}
  gates:
    shadow: {duration: 1d, min_rows: 1000, max_loss_increase: 0.0}
    canary: {share: 0.05, duration: 1d, min_requests: 200, max_error_rate: 0.02, max_p99_ms: 100}
    ab: {share: 0.5, min_duration: 1d, max_duration: 14d, primary: ctr}
"""

NO_GATES: dict[str, Any] = {"shadow": None, "canary": None, "ab": None}

# The hash of the minimal spec before the monitoring block existed (tests/spec/test_monitoring_spec.py): a spec
# without a retrain block, or with any retrain block, must keep it.
MINIMAL_HASH = "79b73ff4856993c1be75a35f03cf13289060df61f0137aac211f84b5058f8c10"


def _base(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "feed", "task": "binary", "data": {"source": "impressions.parquet"},
                            "event_time": "ts", "label": {"column": "clicked"}}
    spec.update(over)
    return spec


EVENTS_LABEL: dict[str, Any] = {"name": "clicked", "from_events": {"feedback": "feedback.parquet", "event": "click",
                                                                   "window": "30m"}}
"""A label built from the feedback log: what the shadow gate and the decay trigger measure the served model on."""


def _retrain(task: str = "binary", **block: Any) -> RetrainSpec:
    extra = {"group": "request_id"} if task == "ranking" else {}
    return ProblemSpec.from_dict(_base(task=task, retrain=block, label=EVENTS_LABEL, **extra)).retrain


def _error(task: str = "binary", **block: Any) -> str:
    with pytest.raises(SpecError) as info:
        _retrain(task, **block)
    return str(info.value)


# -- defaults and parsing ---------------------------------------------------------------------------------------

def test_a_spec_without_the_block_gets_the_documented_defaults_and_the_loop_is_off() -> None:
    retrain = ProblemSpec.from_dict(_base()).retrain
    assert retrain == RetrainSpec()
    assert (retrain.deployment, retrain.mode, retrain.window, retrain.min_interval, retrain.warm_start_rounds) == (
        None, "full", timedelta(days=28), timedelta(days=1), 100)
    assert retrain.triggers == TriggersSpec(schedule=None, drift=False, drift_ignore=[], decay=None)
    assert not retrain.triggers.any()
    assert retrain.judge == JudgeSpec(window=timedelta(days=2), valid=timedelta(days=2), min_improvement=0.0,
                                      significant=True, n_boot=200)
    assert retrain.gates == GatesSpec(shadow=ShadowGate(), canary=CanaryGate(), ab=AbGate())
    assert retrain.gates.order() == ["shadow", "canary", "ab"]
    assert retrain.gate_time() == timedelta(days=3)


def test_the_documented_block_parses_and_survives_the_round_trip_through_the_stored_spec() -> None:
    spec = ProblemSpec.from_dict(_base(label=EVENTS_LABEL, **yaml.safe_load(DOCUMENTED)))
    r = spec.retrain
    assert r.deployment == "feed"
    assert r.triggers.schedule == timedelta(days=7) and r.triggers.drift and r.triggers.drift_ignore == ["item_id"]
    assert r.triggers.decay is not None and (r.triggers.decay.metric, r.triggers.decay.drop) == ("roc_auc", 0.02)
    assert r.triggers.any()
    assert (r.window, r.min_interval, r.judge.window, r.judge.valid) == (
        timedelta(days=28), timedelta(days=1), timedelta(days=2), timedelta(days=2))
    assert r.gates.canary == CanaryGate(share=0.05, duration=timedelta(days=1), min_requests=200,
                                        max_error_rate=0.02, max_p99_ms=100.0)
    assert r.gates.ab == AbGate(share=0.5, min_duration=timedelta(days=1), max_duration=timedelta(days=14),
                                primary="ctr")
    dumped = spec.model_dump(mode="json")
    assert dumped["retrain"]["window"] == "4w" and dumped["retrain"]["triggers"]["schedule"] == "1w"
    assert dumped["retrain"]["gates"]["ab"]["max_duration"] == "2w"
    assert ProblemSpec.from_dict(dumped).model_dump(mode="json") == dumped


@pytest.mark.parametrize(("text", "expected"), [
    ("1h30m", timedelta(minutes=90)),
    ("36h", timedelta(hours=36)),
    ("2w", timedelta(days=14)),
    ("1.5d", timedelta(hours=36)),
    (5400, timedelta(minutes=90)),
])
def test_durations_are_read_the_way_people_write_them(text: str | int, expected: timedelta) -> None:
    block = _retrain(triggers={"schedule": text}, min_interval=text, gates=NO_GATES,
                     judge={"window": text, "valid": text}, window="30d")
    assert block.triggers.schedule == block.min_interval == block.judge.window == block.judge.valid == expected


def test_a_sliding_window_of_null_means_all_of_the_data() -> None:
    block = _retrain(window=None, judge={"window": "60d", "valid": "60d"})
    assert block.window is None


# -- refusals ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("block", "expected"), [
    ({"triggers": {"schedule": "7d"}},
     "loopline.yaml, retrain: the gates ['shadow', 'canary', 'ab'] run in a deployment: set retrain.deployment "
     "(e.g. 'feed'), or turn every gate off (gates: {shadow: null, canary: null, ab: null}) to promote on the judge "
     "alone."),
    ({"triggers": {"drift": True}, "gates": {"shadow": None, "canary": None}},
     "loopline.yaml, retrain: the gates ['ab'] run in a deployment: set retrain.deployment (e.g. 'feed'), or turn "
     "every gate off (gates: {shadow: null, canary: null, ab: null}) to promote on the judge alone."),
    ({"triggers": {"decay": {"metric": "roc_auc", "drop": 0.01}}, "gates": {"ab": None}},
     "loopline.yaml, retrain: the gates ['shadow', 'canary'] run in a deployment: set retrain.deployment (e.g. "
     "'feed'), or turn every gate off (gates: {shadow: null, canary: null, ab: null}) to promote on the judge "
     "alone."),
    ({"window": "4d"},
     "loopline.yaml, retrain: retrain.window (4d) must be longer than judge.window + judge.valid (4d): what is left "
     "before them is the training split."),
    ({"window": "60h", "judge": {"window": "1d", "valid": "36h"}},
     "loopline.yaml, retrain: retrain.window (60h) must be longer than judge.window + judge.valid (60h): what is left "
     "before them is the training split."),
    ({"window": "0d"},
     "loopline.yaml, retrain: retrain.window must be longer than 0, got '0s'; give e.g. '1d'."),
    ({"deployment": "feed", "triggers": {"decay": {"metric": "rmse", "drop": 0.1}}},
     "loopline.yaml, retrain.triggers.decay.metric: 'rmse' is not a binary metric; choose one of "
     + ", ".join(METRICS["binary"]) + "."),
    ({"triggers": {"decay": {"metric": "roc_auc", "drop": 0}}},
     "loopline.yaml, retrain.triggers.decay.drop: Input should be greater than 0, got 0."),
    ({"triggers": {"decay": {"metric": "roc_auc"}}},
     "loopline.yaml, retrain.triggers.decay.drop: required key is missing. Add 'drop:' to the spec."),
    ({"gates": {"ab": {"experiment": {"name": "x", "alpha": 0.1}}}},
     "loopline.yaml, retrain.gates.ab: gates.ab.experiment may not set ['name']: the loop sets them (the primary "
     "metric is gates.ab.primary)."),
    ({"gates": {"ab": {"experiment": {"start": "2024-01-01", "arms": {}, "control": "a", "metrics": ["ctr"]}}}},
     "loopline.yaml, retrain.gates.ab: gates.ab.experiment may not set ['arms', 'control', 'start']: the loop sets "
     "them (the primary metric is gates.ab.primary)."),
    ({"gates": {"ab": {"min_duration": "3d", "max_duration": "2d"}}},
     "loopline.yaml, retrain.gates.ab: gates.ab.max_duration (2d) must be at least min_duration (3d)."),
    ({"gates": {"ab": {"min_duration": "0d"}}},
     "loopline.yaml, retrain.gates.ab: gates.ab.min_duration must be longer than 0, got '0s'; give e.g. '1d'."),
    ({"deployment": "../feed"},
     "loopline.yaml, retrain.deployment: retrain.deployment name '../feed' is not usable: expected 1-100 letters, "
     "digits, '_', '.' or '-', starting with a letter or digit (e.g. 'feed'), so that it is safe as a folder name. "
     "Rename it."),
    ({"deployment": "my feed"},
     "loopline.yaml, retrain.deployment: retrain.deployment name 'my feed' is not usable: expected 1-100 letters, "
     "digits, '_', '.' or '-', starting with a letter or digit (e.g. 'feed'), so that it is safe as a folder name. "
     "Rename it."),
    ({"triggers": {"schedule": "0h"}},
     "loopline.yaml, retrain.triggers.schedule: triggers.schedule must be longer than 0, got '0s'; give e.g. '1d'."),
    ({"triggers": {"schedule": "weekly"}},
     "loopline.yaml, retrain.triggers.schedule: expected a duration like '30m', '12h' or '7d', got 'weekly'."),
    ({"judge": {"valid": "0d"}},
     "loopline.yaml, retrain.judge.valid: judge.window and judge.valid must be longer than 0, got '0s'; give e.g. "
     "'1d'."),
    ({"mode": "warm"},
     "loopline.yaml, retrain.mode: Input should be 'full' or 'warm_start', got 'warm'."),
    ({"trigers": {"schedule": "1d"}},
     "loopline.yaml, retrain.trigers: unknown key 'trigers'; did you mean 'triggers'?"),
    ({"gates": {"canary": {"shares": 0.1}}},
     "loopline.yaml, retrain.gates.canary.shares: unknown key 'shares'; did you mean 'share'?"),
])
def test_refusals_name_the_key_path_the_value_and_the_fix(block: dict[str, Any], expected: str) -> None:
    assert _error(**block) == expected


@pytest.mark.parametrize("trigger", [{"schedule": "7d"}, {"drift": True},
                                     {"decay": {"metric": "log_loss", "drop": 0.01}}])
def test_any_trigger_with_a_gate_on_needs_a_deployment_and_either_fix_is_accepted(trigger: dict[str, Any]) -> None:
    assert "set retrain.deployment" in _error(triggers=trigger)
    assert _retrain(triggers=trigger, deployment="feed").deployment == "feed"
    assert _retrain(triggers=trigger, gates=NO_GATES).gates.order() == []
    assert _retrain(gates={"ab": None}).deployment is None  # without a trigger the block is off: nothing to check


@pytest.mark.parametrize(("task", "good", "bad"), [
    ("regression", "mae", "roc_auc"),
    ("ranking", "ndcg", "rmse"),
    ("multiclass", "macro_f1", "f1"),
])
def test_the_decay_metric_must_belong_to_the_task_and_the_message_lists_the_allowed_ones(task: str, good: str,
                                                                                          bad: str) -> None:
    trigger = {"decay": {"metric": good, "drop": 0.05}}
    decay = _retrain(task, deployment="feed", triggers=trigger).triggers.decay
    assert decay is not None and decay.metric == good
    message = _error(task, deployment="feed", triggers={"decay": {"metric": bad, "drop": 0.05}})
    assert message == (f"loopline.yaml, retrain.triggers.decay.metric: '{bad}' is not a {task} metric; choose one "
                       f"of {', '.join(METRICS[task])}.")


def test_the_window_must_leave_room_for_a_training_split() -> None:
    judge = {"window": "1d", "valid": "12h"}
    assert "must be longer than judge.window + judge.valid (36h)" in _error(window="36h", judge=judge)
    assert _retrain(window="37h", judge=judge).window == timedelta(hours=37)


@pytest.mark.parametrize("key", ["name", "arms", "control", "deployment", "primary", "start"])
def test_every_key_the_loop_sets_is_refused_in_the_ab_experiment(key: str) -> None:
    message = _error(gates={"ab": {"experiment": {key: "x"}}})
    assert f"gates.ab.experiment may not set ['{key}']" in message


def test_further_experiment_settings_and_equal_ab_durations_are_accepted() -> None:
    ab = _retrain(gates={"ab": {"min_duration": "3d", "max_duration": "3d",
                                "experiment": {"alpha": 0.01, "metrics": ["ctr"], "cuped": True}}}).gates.ab
    assert ab is not None
    assert (ab.min_duration, ab.max_duration) == (timedelta(days=3), timedelta(days=3))
    assert ab.experiment == {"alpha": 0.01, "metrics": ["ctr"], "cuped": True}


# -- the gates --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("gates", "order", "time"), [
    ({}, ["shadow", "canary", "ab"], timedelta(days=3)),
    ({"shadow": {"duration": "2d"}, "canary": {"duration": "12h"}, "ab": {"min_duration": "3d"}},
     ["shadow", "canary", "ab"], timedelta(days=5, hours=12)),
    ({"shadow": None, "canary": {"duration": "6h"}, "ab": {"min_duration": "2d", "max_duration": "9d"}},
     ["canary", "ab"], timedelta(days=2, hours=6)),
    ({"canary": None}, ["shadow", "ab"], timedelta(days=2)),
    ({"shadow": {"duration": "4h"}, "canary": None, "ab": None}, ["shadow"], timedelta(hours=4)),
    (NO_GATES, [], timedelta(0)),
])
def test_the_gates_that_are_on_come_in_order_and_take_at_least_their_durations(
        gates: dict[str, Any], order: list[str], time: timedelta) -> None:
    block = _retrain(deployment="feed", triggers={"schedule": "7d"}, gates=gates)
    assert block.gates.order() == order
    assert block.gate_time() == time  # the A/B test counts with its minimum, never its maximum


# -- the spec hash ----------------------------------------------------------------------------------------------

def test_the_retrain_block_never_changes_the_spec_hash_while_the_seed_does() -> None:
    assert ProblemSpec.from_dict(_base()).spec_hash() == MINIMAL_HASH
    events = ProblemSpec.from_dict(_base(label=EVENTS_LABEL)).spec_hash()
    block = yaml.safe_load(DOCUMENTED)["retrain"]
    assert ProblemSpec.from_dict(_base(retrain=block, label=EVENTS_LABEL)).spec_hash() == events
    other = {**block, "mode": "warm_start", "window": None, "gates": NO_GATES, "deployment": "other",
             "judge": {"window": "1d", "valid": "1d", "min_improvement": 0.01, "n_boot": 50}}
    assert ProblemSpec.from_dict(_base(retrain=other, label=EVENTS_LABEL)).spec_hash() == events
    scheduled = {"triggers": {"schedule": "7d"}, "gates": NO_GATES}  # fits a label column
    assert ProblemSpec.from_dict(_base(retrain=scheduled)).spec_hash() == MINIMAL_HASH
    assert ProblemSpec.from_dict(_base(retrain=block, label=EVENTS_LABEL, seed=1)).spec_hash() != events


@pytest.mark.parametrize(("block", "used"), [
    ({"triggers": {"decay": {"metric": "roc_auc", "drop": 0.02}}, "gates": NO_GATES}, "retrain.triggers.decay"),
    ({"deployment": "feed", "triggers": {"schedule": "7d"}}, "retrain.gates.shadow"),
])
def test_what_measures_the_served_model_needs_labels_from_events(block: dict[str, Any], used: str) -> None:
    with pytest.raises(SpecError) as info:
        ProblemSpec.from_dict(_base(retrain=block))
    assert (f"{used} measures the served model on labels from the feedback log, but the label is the column "
            f"'clicked'; give label.from_events, or remove {used}") in str(info.value)


def test_module_doctest() -> None:
    assert doctest.testmod(retrain_module).failed == 0
