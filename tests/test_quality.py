"""The code stays ruff-clean and mypy-clean under the project's own configuration (skipped when the tools are
not installed).

mypy runs with ``[tool.mypy]`` from pyproject.toml (``strict = true`` there) and no flags of its own: a flag such as
``--strict`` on the command line would switch ``warn_unused_ignores`` back on, and a gate that turns red because
a dependency improved its type stubs (an ignore that became unnecessary) says nothing about our code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


def test_ruff_clean() -> None:
    folders = [f for f in ("src", "tests", "benchmarks") if (ROOT / f).is_dir()]
    result = subprocess.run([_tool("ruff"), "check", *folders], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_clean() -> None:
    result = subprocess.run([_tool("mypy")], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_mypy_is_strict_by_configuration_and_tolerates_ignores_that_newer_stubs_make_unneeded() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"] == ["src/loopline"]
    assert config["warn_unused_ignores"] is False
