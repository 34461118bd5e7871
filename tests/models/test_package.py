"""The package face: exports, and the examples in the docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

from loopline import models, testing

MODULES = ["_lightgbm", "_model", "_rule", "_targets", "_threshold", "_warm"]


def test_all_names_exist() -> None:
    assert set(models.__all__) == {"Explanation", "ModelFamily", "TrainedModel", "check_params", "choose_threshold",
                                   "correct_for_downsampling", "load_model", "save_model", "train_baselines",
                                   "train_candidates", "continue_training"}
    assert all(hasattr(models, name) for name in models.__all__)
    assert testing.__all__ == ["check_model"] and callable(testing.check_model)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"loopline.models.{module}"))
    assert result.failed == 0 and result.attempted > 0
