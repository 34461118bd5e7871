"""OpenMP threads: a passive wait policy by default, one thread for small fits, the count recorded."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys

from loopline import _threads
from loopline.models import train_candidates
from tests.models.samples import make_spec, make_splits


def test_doctests() -> None:
    assert doctest.testmod(_threads).failed == 0


def test_importing_loopline_sets_a_passive_wait_policy_unless_one_is_chosen() -> None:
    code = "import os, loopline; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    chosen = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                            capture_output=True, text=True, check=True)
    assert unset.stdout.strip() == "PASSIVE"
    assert chosen.stdout.strip() == "ACTIVE"


def test_small_fits_use_one_thread_and_large_ones_the_available_cores() -> None:
    assert _threads.default_threads(_threads.SMALL_ROWS - 1) == 1
    assert _threads.default_threads(_threads.SMALL_ROWS) == _threads.available_cores() >= 1


def test_the_thread_count_is_recorded_in_the_models_params() -> None:
    splits = make_splits("binary", n=1200)
    default = make_spec("binary", rounds=20, models={"lightgbm": {"num_boost_round": 20}, "calibration": "none",
                                                     "candidates": ["lightgbm"]})
    chosen = make_spec("binary", rounds=20, models={"lightgbm": {"num_boost_round": 20, "n_jobs": 2},
                                                    "calibration": "none", "candidates": ["lightgbm"]})
    auto = train_candidates(splits, default)[0].params
    given = train_candidates(splits, chosen)[0].params
    assert auto["num_threads"] == 1
    assert auto["OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "")
    assert given["n_jobs"] == 2 and "num_threads" not in given
