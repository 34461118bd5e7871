"""One rule for paths read from data: resolved inside their root, refused otherwise."""

from __future__ import annotations

import doctest
import re
from pathlib import Path, PurePosixPath

import pytest

from loopline import LooplineError, ModelError, _paths
from loopline._paths import relative_inside, resolve_inside


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "models" / "m").mkdir(parents=True)
    return folder


@pytest.mark.parametrize("relative", ["models/m", "models/m/", "./models/m", PurePosixPath("models/m"), "models/new"])
def test_paths_inside_are_joined_to_the_root(root: Path, relative: str | PurePosixPath) -> None:
    assert resolve_inside(root, relative, what="path") == root.joinpath(*PurePosixPath(str(relative)).parts)


@pytest.mark.parametrize(("relative", "why"), [
    ("/etc/passwd", "it is an absolute path"),
    ("C:\\models\\m", "it is an absolute path"),
    ("C:models", "it is an absolute path"),
    ("models/../../x", "it climbs out of its folder with '..'"),
    ("models\\..\\..\\x", "it climbs out of its folder with '..'"),
    ("models/m/..", "it climbs out of its folder with '..'"),
    ("", "it is empty or not a path"),
    (".", "it names the root folder itself"),
    ("a\x00b", "it is empty or not a path"),
])
def test_escapes_are_refused_naming_the_value_and_the_root(root: Path, relative: str, why: str) -> None:
    with pytest.raises(ModelError) as info:
        resolve_inside(root, relative, what="the file listed as", error=ModelError, fix="Re-save the model.")
    assert str(info.value) == (f"the file listed as {relative!r} is refused: {why}; it must be a relative path inside "
                               f"{root}. Re-save the model.")


def test_a_symbolic_link_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (root / "models" / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "models" / "inner").symlink_to(root / "models" / "m", target_is_directory=True)
    assert resolve_inside(root, "models/inner", what="path") == root / "models" / "inner"  # stays inside: fine
    for value in ("models/link", "models/link/deeper"):
        with pytest.raises(LooplineError, match=rf"it leads to {re.escape(str(tmp_path / 'outside'))}.* through a "
                                            "symbolic link"):
            resolve_inside(root, value, what="path")


def test_relative_inside_turns_an_absolute_path_under_the_root_into_stored_text(root: Path, tmp_path: Path) -> None:
    assert relative_inside(root, root / "models" / "m", what="path") == "models/m"
    with pytest.raises(LooplineError, match=r"it lies outside the root"):
        relative_inside(root, tmp_path / "elsewhere", what="path")
    with pytest.raises(LooplineError, match=r"it names the root folder itself"):
        relative_inside(root, root, what="path")


def test_doctests() -> None:
    assert doctest.testmod(_paths).failed == 0
