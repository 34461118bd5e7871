"""The code stays ruff-clean and mypy --strict clean (skipped when the tools are not installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
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
def test_mypy_strict_clean() -> None:
    result = subprocess.run([_tool("mypy"), "--strict", "src/loopline"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
