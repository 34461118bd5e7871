"""Artifact storage: whole verified copies renamed into place, atomic small files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from loopline import IntegrityError
from loopline._atomic import write_text
from loopline.registry._artifacts import file_sha256, store
from tests.registry.conftest import make_artifact


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 9000  # spans several read chunks
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_store_copies_into_a_fresh_folder(tmp_path: Path) -> None:
    source, sha = make_artifact(tmp_path / "saved")
    first = store(source, tmp_path / "models", sha256=sha)
    second = store(source, tmp_path / "models", sha256=sha)
    assert first != second and first.parent == second.parent == tmp_path / "models"
    assert (first / "model.json").read_bytes() == (source / "model.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted([first.name, second.name])


def test_store_refuses_a_mismatch_and_cleans_up(tmp_path: Path) -> None:
    source, _ = make_artifact(tmp_path / "saved")
    with pytest.raises(IntegrityError, match="Save the model again and register the sha256 that save_model returns"):
        store(source, tmp_path / "models", sha256="0" * 64)
    assert list((tmp_path / "models").iterdir()) == []


def test_card_writes_replace_whole_files_and_leave_no_temporaries(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "MODEL_CARD.md"
    write_text(target, "old\n")
    write_text(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_text(target, "never\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["MODEL_CARD.md"]
