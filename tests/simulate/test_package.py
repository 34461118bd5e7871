"""The package face of ``loopline.simulate``: its exports and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

from loopline import simulate


def test_exports() -> None:
    assert all(hasattr(simulate, name) for name in simulate.__all__)
    assert {"FeedSimulator", "SimConfig", "Drift", "SimulationResult"} <= set(simulate.__all__)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(importlib.import_module("loopline.simulate._simulator"))
    assert result.failed == 0 and result.attempted > 0
