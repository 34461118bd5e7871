"""``assign``: deterministic, weight-true, independent across experiments, monotone when ramped."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopline import ExperimentError
from loopline.events import N_BUCKETS, assign, buckets

UNITS = np.array([f"user-{i}" for i in range(60_000)])


def _oracle_bucket(salt: str, unit: str) -> int:
    """The documented hash, spelled out one unit at a time."""
    s = salt.encode("utf-8")
    key = len(s).to_bytes(4, "big") + s + unit.encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % N_BUCKETS


def test_buckets_match_the_documented_hash() -> None:
    units = ["u1", "ü-2", "", "user-42", "u1"]
    assert buckets("exp", units).tolist() == [_oracle_bucket("exp", u) for u in units]
    assert buckets("exp", np.arange(5)).tolist() == [_oracle_bucket("exp", str(i)) for i in range(5)]


def test_the_same_unit_gets_the_same_arm_across_calls_orders_and_containers() -> None:
    arms = {"control": 0.5, "treatment": 0.5}
    first = assign("exp-a", UNITS, arms)
    order = np.random.default_rng(0).permutation(len(UNITS))
    shuffled = assign("exp-a", UNITS[order], arms)
    np.testing.assert_array_equal(shuffled, first[order])
    np.testing.assert_array_equal(assign("exp-a", pd.Series(UNITS), arms), first)
    np.testing.assert_array_equal(assign("exp-a", UNITS.tolist(), arms), first)
    assert set(first) == {"control", "treatment"}


def test_the_same_unit_gets_the_same_arm_in_another_process() -> None:
    code = ("import json, sys; from loopline.events import assign; "
            "print(json.dumps(assign('exp-a', [f'user-{i}' for i in range(500)], "
            "{'control': 0.5, 'treatment': 0.5}).tolist()))")
    # A different PYTHONHASHSEED would change Python's hash(); the assignment must not care.
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert json.loads(child.stdout) == assign("exp-a", UNITS[:500], {"control": 0.5, "treatment": 0.5}).tolist()


def test_shares_match_the_weights() -> None:
    arms = {"control": 0.5, "a": 0.3, "b": 0.2}
    got = assign("exp-shares", UNITS, arms)
    observed = [int(np.sum(got == arm)) for arm in arms]
    expected = [w * len(UNITS) for w in arms.values()]
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Weights need not sum to one.
    np.testing.assert_array_equal(assign("exp-shares", UNITS, {"control": 5, "a": 3, "b": 2}), got)


def test_buckets_are_uniform() -> None:
    counts = np.bincount(buckets("exp-uniform", UNITS) // 100, minlength=100)  # 100 groups of 100 buckets
    assert stats.chisquare(counts).pvalue > 1e-3


def test_changing_one_experiments_weights_does_not_move_another_experiments_units() -> None:
    before = assign("exp-b", UNITS, {"control": 0.5, "treatment": 0.5})
    assign("exp-a", UNITS, {"control": 0.9, "treatment": 0.1})
    assign("exp-a", UNITS, {"control": 0.2, "treatment": 0.8})
    np.testing.assert_array_equal(assign("exp-b", UNITS, {"control": 0.5, "treatment": 0.5}), before)
    # And the two experiments hash differently: their buckets are not the same permutation.
    assert np.mean(buckets("exp-a", UNITS) == buckets("exp-b", UNITS)) < 0.001


def test_two_experiments_assign_independently() -> None:
    a = assign("exp-a", UNITS, {"control": 0.5, "treatment": 0.5})
    b = assign("exp-b", UNITS, {"x": 0.2, "y": 0.3, "z": 0.5})
    table = pd.crosstab(a, b).to_numpy()
    assert table.shape == (2, 3)
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_ramping_treatment_only_moves_units_from_control_into_treatment() -> None:
    small = assign("ramp", UNITS, {"control": 0.9, "treatment": 0.1})
    large = assign("ramp", UNITS, {"control": 0.8, "treatment": 0.2})
    assert not np.any((small == "treatment") & (large == "control"))  # never back
    moved = np.mean((small == "control") & (large == "treatment"))
    assert abs(moved - 0.1) < 4 * np.sqrt(0.1 * 0.9 / len(UNITS))


def test_a_salt_replaces_the_experiment_name_in_the_hash() -> None:
    arms = {"control": 0.5, "treatment": 0.5}
    np.testing.assert_array_equal(assign("rerun", UNITS, arms, salt="exp-a"), assign("exp-a", UNITS, arms))
    assert np.mean(assign("exp-a", UNITS, arms, salt="exp-a-v2") == assign("exp-a", UNITS, arms)) < 0.6


def test_a_zero_weight_arm_gets_no_units() -> None:
    got = assign("exp", UNITS, {"control": 1.0, "off": 0.0, "treatment": 1.0})
    assert "off" not in set(got)


@pytest.mark.parametrize(("arms", "message"), [
    ({}, "arms must be a non-empty mapping"),
    ({"a": -1.0, "b": 1.0}, "arm 'a' has weight -1.0; expected a number >= 0"),
    ({"a": float("nan")}, "arm 'a' has weight nan"),
    ({"a": 0.0, "b": 0.0}, "every arm has weight 0"),
    ({"a": 1.0, "b": 1e-6}, "arm 'b' has weight 0.000001 of the traffic, below the resolution of 1/10000"),
    ({"": 1.0}, "arm names must be non-empty strings"),
])
def test_bad_arms_are_refused(arms: dict[str, float], message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        assign("exp", ["u1"], arms)


def test_bad_unit_ids_are_refused() -> None:
    arms = {"a": 1.0}
    with pytest.raises(ExperimentError, match=r"an id is missing \(None or NaN\); every unit needs an id"):
        assign("exp", ["u1", None], arms)
    with pytest.raises(ExperimentError, match="an id is missing"):
        assign("exp", pd.Series(["u1", None], dtype="str"), arms)
    with pytest.raises(ExperimentError, match=r"expected strings or integers, got b'u1' \(bytes\)"):
        assign("exp", np.array([b"u1", "u2"], dtype=object), arms)
    with pytest.raises(ExperimentError, match="got a single string; wrap it in a list"):
        assign("exp", "u1", arms)
    with pytest.raises(ExperimentError, match=r"expected a 1-d array of ids, got shape \(1, 2\)"):
        assign("exp", [["u1", "u2"]], arms)
    with pytest.raises(ExperimentError, match="got an array of float64"):
        assign("exp", [1.5, 2.0], arms)
    with pytest.raises(ExperimentError, match="experiment: expected a non-empty name"):
        assign("", ["u1"], arms)
