"""One name rule for every user-given name (models, experiments, deployments, arms)."""

from __future__ import annotations

import doctest

import pytest

from loopline import ExperimentError, RegistryError, _names
from loopline._names import check_name, is_name


@pytest.mark.parametrize("name", ["churn", "c", "7day", "ranker-ab", "feed.v2", "a_b", "a..b", "x" * 100])
def test_plain_names_pass(name: str) -> None:
    assert is_name(name) and check_name(name, what="model", error=RegistryError) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", "/abs", "-x", "_x", ".x", "a b", "é",
                                  "x" * 101, "a\x00b", None, 3])
def test_anything_else_is_refused_with_what_it_names_and_the_rule(name: object) -> None:
    assert not is_name(name)
    with pytest.raises(ExperimentError) as info:
        check_name(name, what="experiment", error=ExperimentError, example="ranker-ab")
    assert str(info.value) == (
        f"experiment name {name!r} is not usable: expected 1-100 letters, digits, '_', '.' or '-', starting with a "
        "letter or digit (e.g. 'ranker-ab'), so that it is safe as a folder name. Rename it.")


def test_doctests() -> None:
    assert doctest.testmod(_names).failed == 0
