"""The rules of direction from ARCHITECTURE.md: a stage never imports a later stage."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import loopline

SRC = Path(loopline.__file__).parent

# Rank of each package: a package may import packages of lower or equal rank only.
RANK = {
    "spec": 0, "workspace": 0, "testing": 99,
    "events": 1,
    "data": 2, "simulate": 2,
    "features": 3,
    "models": 4,
    "evaluation": 5,
    "registry": 6,
    "serving": 7,
    "experiments": 8,
    "monitoring": 9,
    "reports": 10,
    "loop": 11,
    "cli": 12,
}
CORE = {"_errors", "_progress", "_atomic", "_json", "_names", "_paths", "_threads", "__init__"}
"""Top-level modules every package may import; they import nothing of the stages."""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m.split(".")[1] for m in found if m.startswith("loopline.") and len(m.split(".")) > 1}


def _package_files() -> list[tuple[str, Path]]:
    return [(p.relative_to(SRC).parts[0], p) for p in SRC.rglob("*.py") if len(p.relative_to(SRC).parts) > 1]


def test_every_package_has_a_rank() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(RANK), f"give these packages a rank: {sorted(packages - set(RANK))}"


@pytest.mark.parametrize(("package", "path"), _package_files(), ids=lambda v: str(v))
def test_no_stage_imports_a_later_stage(package: str, path: Path) -> None:
    rank = RANK[package]
    for imported in _imports(path) - CORE - {package}:
        assert RANK.get(imported, -1) <= rank, (
            f"{path.relative_to(SRC)} imports loopline.{imported} (rank {RANK.get(imported)}), "
            f"a later stage than {package} (rank {rank})"
        )


def test_core_imports_nothing_of_loopline_stages() -> None:
    modules = {p.stem for p in SRC.glob("*.py")}
    assert modules <= CORE, f"classify these top-level modules: {sorted(modules - CORE)}"
    for name in modules:
        assert _imports(SRC / f"{name}.py") <= CORE, name
        text = (SRC / f"{name}.py").read_text(encoding="utf-8")
        assert "from loopline import" not in text or name == "__init__", name


def test_dunder_all_names_exist() -> None:
    for info in pkgutil.iter_modules([str(SRC)]):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"loopline.{info.name}")
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"loopline.{info.name}.__all__ names missing {name!r}"


def test_checker_catches_a_backwards_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from loopline.registry import Registry\n", encoding="utf-8")
    assert "registry" in _imports(bad)
    assert RANK["registry"] > RANK["data"]
