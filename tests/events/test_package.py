"""The package face of ``loopline.events``: its exports and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

from loopline import events


def test_exports() -> None:
    assert all(hasattr(events, name) for name in events.__all__)
    assert {"EventLog", "EventWriter", "conform", "assign", "buckets", "SCHEMAS", "REQUIRED"} <= set(events.__all__)
    assert set(events.SCHEMAS) == set(events.KINDS) == set(events.REQUIRED)
    for kind, required in events.REQUIRED.items():
        assert set(required) <= set(events.SCHEMAS[kind].names)


@pytest.mark.parametrize("module", ["_assignment", "_conform", "_log", "_writer"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"loopline.events.{module}"))
    assert result.failed == 0 and result.attempted > 0
