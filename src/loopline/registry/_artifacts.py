"""Artifact folders under the workspace: copied whole, verified, and renamed into place atomically.

A folder appears at its final path only through the rename of a complete, verified, fsynced copy
(:mod:`loopline._atomic`), so a crash leaves at most a hidden ``.*.tmp`` folder or an orphan folder
no version row points at, never a version whose artifact is missing or half-written.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

from loopline import _atomic as atomic
from loopline._errors import IntegrityError, RegistryError

MODEL_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_source(artifact_dir: Path, name: str) -> None:
    """Refuse a source folder that is not a saved model before copying anything."""
    if not artifact_dir.is_dir():
        raise RegistryError(
            f"cannot register {name!r}: artifact folder {artifact_dir} does not exist. Save the model first "
            "(loopline.models.save_model) and pass the folder it wrote."
        )
    if not (artifact_dir / MODEL_FILE).is_file():
        raise RegistryError(
            f"cannot register {name!r}: {artifact_dir} has no {MODEL_FILE}; pass the folder written by "
            "loopline.models.save_model."
        )


def store(artifact_dir: Path, models_dir: Path, *, sha256: str) -> Path:
    """Copy ``artifact_dir`` to a new folder under ``models_dir`` and return its final path.

    The copy is made in a temporary sibling folder (:func:`loopline._atomic.replace_dir`), its
    ``model.json`` is checked against ``sha256`` (:class:`IntegrityError` otherwise) and only then
    renamed into place.
    """
    final = models_dir / uuid.uuid4().hex
    with atomic.replace_dir(final) as tmp:
        shutil.copytree(artifact_dir, tmp, dirs_exist_ok=True)
        found = file_sha256(tmp / MODEL_FILE)
        if found != sha256:
            raise IntegrityError(
                f"{artifact_dir / MODEL_FILE} has sha256 {found}, but {sha256} was given to register it: the "
                "folder changed after the model was saved. Save the model again and register the sha256 "
                "that save_model returns."
            )
    return final
