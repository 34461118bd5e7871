from __future__ import annotations

import doctest
import importlib

import pytest

from loopline.reports._format import fmt_interval, fmt_number, fmt_percent_change, fmt_rate, fmt_signed

MODULES = ["_format", "_write", "_plotly", "_tables"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"loopline.reports.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(("value", "text"), [
    (0.170, "0.170"), (0.7912, "0.791"), (1.012, "1.012"), (0.0041, "0.0041"), (0.00001234, "1.23e-05"),
    (12.34, "12.34"), (-0.5, "-0.500"), (123456.7, "123,456.7"), (12_345_678.9, "12,345,679"),
    (float("inf"), "n/a"), (None, "n/a"), (42, "42"), (1234, "1,234"),
])
def test_fmt_number(value: float | None, text: str) -> None:
    assert fmt_number(value) == text


def test_other_formats() -> None:
    assert fmt_interval(0.16800000000000001, 0.17200000000000001) == "[0.168, 0.172]"
    assert fmt_interval(0.1, float("nan")) == ""
    assert fmt_percent_change(0.112) == "+11.2%"
    assert fmt_percent_change(3.42) == "+342.0%"
    assert fmt_rate(0.055) == "5.50%"
    assert fmt_rate(0.421) == "42.1%"
    assert fmt_signed(0.0) == "0"
    assert fmt_signed(-0.001) == "-0.001"
