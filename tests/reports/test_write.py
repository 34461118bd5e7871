from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from loopline.reports import write_html, write_json


def test_write_json_turns_non_finite_numbers_into_null(tmp_path: Path) -> None:
    path = write_json({"a": float("nan"), "b": [1.5, float("inf"), -math.inf], "c": {"d": None}}, tmp_path / "x.json")
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None, None], "c": {"d": None}}


def test_write_json_converts_common_python_and_numpy_values(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Point:
        x: float
        tags: tuple[str, ...]

    data = {
        "point": Point(np.float64("nan"), ("a", "b")),  # type: ignore[arg-type]
        "n": np.int64(3),
        "arr": np.array([1.0, np.nan]),
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "where": Path("/tmp/x"),
    }
    out = json.loads(write_json(data, tmp_path / "x.json").read_text(encoding="utf-8"))
    assert out == {"point": {"x": None, "tags": ["a", "b"]}, "n": 3, "arr": [1.0, None],
                   "when": "2024-01-02T03:04:05+00:00", "where": "/tmp/x"}


def test_write_json_names_the_key_it_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"\$\.model\.weights: a object is not JSON"):
        write_json({"model": {"weights": object()}}, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_writes_create_folders_replace_files_and_leave_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "page.html"
    assert write_html("<p>one</p>", target) == target
    write_html("<p>two</p>", target)
    assert target.read_text(encoding="utf-8") == "<p>two</p>"
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_json({"version": 1}, tmp_path / "report.json")

    def broken_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_json({"version": 2}, target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
