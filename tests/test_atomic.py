"""Atomic writes: whole files or none, synced folders, one file mode, and no second copy of the helper."""

from __future__ import annotations

import doctest
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import loopline
from loopline import _atomic as atomic
from loopline.events._segment import write_segment
from loopline.models._baselines import ConstantScorer
from loopline.models._model import Model
from loopline.models._storage import save_model
from loopline.registry._artifacts import store
from loopline.reports import write_html, write_json
from loopline.simulate._simulator import _write_truth
from tests.registry.conftest import make_artifact

SRC = Path(loopline.__file__).parent


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """``umask(mask)`` sets the process umask for the test; the old one comes back afterwards."""
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    try:
        yield set_mask
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _model() -> Model:
    return Model(name="m", task="binary", features=("x",), scorer=ConstantScorer("binary", [0.25]), link="logistic",
                 is_baseline=True, params={"note": "constant"})


def _store(folder: Path) -> Path:
    source, sha256 = make_artifact(folder.parent / f"{folder.name}-source")
    return store(source, folder, sha256=sha256)


# Every writer of a file or artifact folder, as (name, write into this folder -> the path written).
WRITERS: dict[str, Callable[[Path], Path]] = {
    "write_bytes": lambda folder: atomic.write_bytes(folder / "a.bin", b"\x00\x01"),
    "write_text": lambda folder: atomic.write_text(folder / "a.txt", "hello\n"),
    "reports.write_json": lambda folder: write_json({"auc": 0.5}, folder / "r.json"),
    "reports.write_html": lambda folder: write_html("<p>hi</p>", folder / "r.html"),
    "events.write_segment": lambda folder: write_segment(folder, pa.table({"x": [1, 2]})),
    "simulate truth": lambda folder: _write_truth(folder, pa.table({"x": [1, 2]})),
    "models.save_model": lambda folder: (save_model(_model(), folder / "model"), folder / "model" / "model.json")[1],
    "registry.store": lambda folder: _store(folder),
}


def test_write_replaces_the_whole_file_and_creates_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    assert atomic.write_text(target, "one\n") == target
    atomic.write_text(target, "two\n")
    assert target.read_text(encoding="utf-8") == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["c.txt"]


def _write_half_then_fail(target: Path) -> None:
    with atomic.writing(target) as handle:
        handle.write(b"new, but only the first half")
        handle.flush()
        assert target.read_text(encoding="utf-8") == "old\n"  # readers still see the old file meanwhile
        raise RuntimeError("writer failed")


def test_a_writer_that_raises_midway_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    target = atomic.write_text(tmp_path / "data.txt", "old\n")
    with pytest.raises(RuntimeError, match="writer failed"):
        _write_half_then_fail(target)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_a_failed_rename_leaves_the_old_content_and_no_temporary_file(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = atomic.write_bytes(tmp_path / "data.bin", b"old")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_replace_dir_publishes_a_complete_folder_or_nothing(tmp_path: Path) -> None:
    final = tmp_path / "models" / "abc"

    def copy_half_then_fail() -> None:
        with atomic.replace_dir(final) as folder:
            (folder / "model.json").write_text("{}", encoding="utf-8")
            raise RuntimeError("copy failed")

    with pytest.raises(RuntimeError, match="copy failed"):
        copy_half_then_fail()
    assert not final.exists() and list((tmp_path / "models").iterdir()) == []
    with atomic.replace_dir(final) as folder:
        (folder / "sub").mkdir()
        (folder / "sub" / "weights.txt").write_text("1 2", encoding="utf-8")
        assert not final.exists()
    assert (final / "sub" / "weights.txt").read_text(encoding="utf-8") == "1 2"
    assert [p.name for p in final.parent.iterdir()] == ["abc"]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_syncs_the_file_then_the_folder_after_the_rename(writer: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_replace(src, dst)
        events.append(("replace", str(dst)))

    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    written = WRITERS[writer](folder)
    assert written.exists()
    replaced = [i for i, (kind, dst) in enumerate(events) if kind == "replace" and Path(dst) == written]
    if not replaced:  # a folder writer: the folder holding the file was renamed into place
        replaced = [i for i, (kind, dst) in enumerate(events) if kind == "replace" and Path(dst) in written.parents]
    assert replaced, events
    last = replaced[-1]
    assert ("fsync", "file") in events[:last], f"{writer}: the content was not fsynced before the rename: {events}"
    assert ("fsync", "dir") in events[last + 1:], f"{writer}: the folder was not fsynced after the rename: {events}"


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o644)])
def test_every_writer_gives_files_mode_0644_minus_the_umask(writer: str, mask: int, expected: int, tmp_path: Path,
                                                             umask: Callable[[int], None]) -> None:
    folder = tmp_path / "out"
    umask(mask)
    written = WRITERS[writer](folder)
    top = written.parent if writer in ("registry.store", "models.save_model") else written
    files = [p for p in top.rglob("*") if p.is_file()] if top.is_dir() else [top]
    assert files
    for path in files:
        assert oct(_mode(path)) == oct(expected), f"{writer}: {path.name}"
    assert oct(_mode(folder)) == oct(0o755 & ~mask)  # created by the writer


def test_no_module_renames_or_syncs_files_by_itself() -> None:
    """Only loopline/_atomic.py may call os.replace, os.rename or os.fsync: copies cannot come back."""
    pattern = re.compile(r"\bos\.(replace|rename|fsync)\(|\bmkstemp\(")
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py")) if path.name != "_atomic.py" or path.parent != SRC
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == [], "write files through loopline._atomic instead:\n" + "\n".join(offenders)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(atomic)
    assert result.failed == 0 and result.attempted > 0
