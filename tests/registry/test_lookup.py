"""Version references: numbers in any spelling, or alias names."""

from __future__ import annotations

import doctest

import pytest

from loopline import RegistryError
from loopline.registry import _lookup
from loopline.registry._lookup import parse_version_ref


@pytest.mark.parametrize(("ref", "expected"), [(3, 3), ("3", 3), ("v3", 3), ("V12", 12), (" 7 ", 7),
                                               ("champion", "champion"), ("v3a", "v3a")])
def test_refs(ref: int | str, expected: int | str) -> None:
    assert parse_version_ref(ref) == expected


@pytest.mark.parametrize("ref", [True, 2.0, None])
def test_other_types_are_refused(ref: object) -> None:
    with pytest.raises(RegistryError, match="a version is a number like 3, '3' or 'v3', or an alias"):
        parse_version_ref(ref)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(_lookup).failed == 0
