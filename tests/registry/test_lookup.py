"""Version references (numbers in any spelling, or alias names) and stored paths resolved inside the root."""

from __future__ import annotations

import doctest
import re
import shutil
from pathlib import Path

import pytest

from loopline import RegistryError
from loopline.registry import Registry, _lookup
from loopline.registry._engine import create_registry_engine
from loopline.registry._lookup import parse_version_ref
from loopline.registry._schema import model_versions
from loopline.workspace import Workspace
from tests.registry.conftest import register


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


# Stored paths never escape the artifact root ----------------------------------------------------


def _set_row(workspace: Workspace, **values: str) -> None:
    """Overwrite columns of churn v1's row, as someone editing the database by hand would."""
    engine = create_registry_engine(workspace.db_url.reveal())
    with engine.begin() as conn:
        conn.execute(model_versions.update().where(model_versions.c.name == "churn", model_versions.c.version == 1)
                     .values(**values))
    engine.dispose()


@pytest.fixture
def outside(tmp_path: Path, artifact: tuple[Path, str]) -> Path:
    """A complete model folder outside the workspace (what a tampered row would point at)."""
    folder = tmp_path / "outside"
    shutil.copytree(artifact[0], folder)
    return folder


def test_an_absolute_path_outside_the_root_is_refused(registry: Registry, artifact: tuple[Path, str],
                                                      workspace: Workspace, outside: Path) -> None:
    register(registry, artifact)
    _set_row(workspace, artifact_path=str(outside))
    message = (rf"the artifact_path of model 'churn' v1 '{re.escape(str(outside))}' is refused: it lies outside the "
               rf"root; it must be a relative path inside {re.escape(str(workspace.artifact_root))}\. .*register "
               "the model again")
    for read in (lambda: registry.get_version("churn", 1), lambda: registry.list_versions(),
                 lambda: registry.load("churn", 1)):
        with pytest.raises(RegistryError, match=message):
            read()


def test_a_relative_path_climbing_out_is_refused(registry: Registry, artifact: tuple[Path, str],
                                                 workspace: Workspace, outside: Path) -> None:
    register(registry, artifact)
    climb = "models/churn/../../../../outside"
    assert (workspace.artifact_root / climb / "model.json").is_file()  # it would reach a real model
    _set_row(workspace, artifact_path=climb)
    with pytest.raises(RegistryError, match=r"the artifact_path of model 'churn' v1 'models/churn/\.\./\.\./\.\./\.\./"
                                            r"outside' is refused: it climbs out of its folder with '\.\.'"):
        registry.get_version("churn", 1)


def test_a_symbolic_link_out_of_the_root_is_refused(registry: Registry, artifact: tuple[Path, str],
                                                    workspace: Workspace, outside: Path) -> None:
    register(registry, artifact)
    link = workspace.artifact_root / "models" / "churn" / "link"
    link.symlink_to(outside, target_is_directory=True)
    _set_row(workspace, artifact_path="models/churn/link")
    with pytest.raises(RegistryError, match=rf"'models/churn/link' is refused: it leads to {re.escape(str(outside))} "
                                            "through a symbolic link"):
        registry.load("churn", 1)


def test_a_card_path_outside_the_root_is_refused(registry: Registry, artifact: tuple[Path, str],
                                                 workspace: Workspace, tmp_path: Path) -> None:
    register(registry, artifact)
    _set_row(workspace, card_path=str(tmp_path / "elsewhere.md"))
    with pytest.raises(RegistryError, match=r"the card_path of model 'churn' v1 .* is refused: it lies outside"):
        registry.get_version("churn", 1)


def test_an_absolute_path_from_before_revision_0002_inside_the_root_is_accepted(
        registry: Registry, artifact: tuple[Path, str], workspace: Workspace) -> None:
    version = register(registry, artifact)
    _set_row(workspace, artifact_path=str(version.artifact_path), card_path=str(version.card_path))
    assert registry.get_version("churn", 1) == version
