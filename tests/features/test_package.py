"""The package face: exports and the examples in the docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

from loopline import features

MODULES = ["_categories", "_coerce", "_hashing", "_label_profile", "_numeric", "_plan", "_preprocessor", "_profile",
           "_state", "_time"]


def test_all_names_exist() -> None:
    assert all(hasattr(features, name) for name in features.__all__)
    assert {"build_preprocessor", "Preprocessor", "Profile"} <= set(features.__all__)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"loopline.features.{module}"))
    assert result.failed == 0 and result.attempted > 0
