"""The package face: exports, JSON-ready results, the shared error, and the examples in the docstrings."""

from __future__ import annotations

import doctest
import importlib
import json

import numpy as np
import pytest

import loopline
from loopline import ExperimentError, LooplineError
from loopline import experiments as ex

MODULES = ["_cuped", "_design", "_effects", "_guardrails", "_interleaving", "_multiple", "_sequential", "_srm"]


def test_all_names_exist_and_are_sorted() -> None:
    assert all(hasattr(ex, name) for name in ex.__all__)
    assert list(ex.__all__) == sorted(ex.__all__)


def test_experiment_error_is_a_loopline_value_error() -> None:
    assert issubclass(ExperimentError, LooplineError)
    assert issubclass(ExperimentError, ValueError)
    assert "ExperimentError" in loopline.__all__


@pytest.mark.parametrize("module", ["__init__", *MODULES])
def test_docstring_examples_run(module: str) -> None:
    name = "loopline.experiments" if module == "__init__" else f"loopline.experiments.{module}"
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_result_serialises_to_json() -> None:
    rng = np.random.default_rng(0)
    c, t = rng.normal(0, 1, 50), rng.normal(0.2, 1, 50)
    effect = ex.compare_means(c, t)
    results = [
        ex.design(ex.RatioMetric(1.0, 10.0, 2.0, 30.0, 4.0), mde=0.01, daily_units=100),
        effect,
        ex.estimate_ratio(np.abs(c), np.abs(t) + 1),
        ex.cuped(c, t, pre_control=c + rng.normal(0, 1, 50), pre_treatment=t + rng.normal(0, 1, 50)),
        ex.srm_by_day([[10, 12], [0, 0]]),
        ex.adjust_pvalues([0.01, 0.2]),
        ex.msprt([0.1, 0.2], [0.01, 0.005], mixing_variance=0.01),
        ex.non_inferiority(effect, margin=0.5),
        ex.preference_test(["A", "B", "tie"]),
        ex.ProportionMetric(0.2),
    ]
    for result in results:
        data = result.to_dict()
        assert json.loads(json.dumps(data, allow_nan=False)) == data
