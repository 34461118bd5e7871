"""Saving and loading models without pickle, with checksums verified before anything is parsed.

A model directory holds ``model.json`` (format ``loopline.model`` version 1: name, family, task,
features, classes, threshold, link, downsampling rate, calibration, the scorer's state (constant
prior, random seed, heuristic rule and its 1-D mapping, linear coefficients, preprocessing state),
params, fit seconds, and ``files``: the sha256 of every other file) and, for LightGBM,
``booster.txt`` (LightGBM's text model). Each file is written to a temporary name and renamed into
place, ``model.json`` last. The sha256 of ``model.json`` is what the registry records;
:func:`load_model` checks it, then every listed file, before rebuilding the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopline._errors import IntegrityError, ModelError
from loopline.models._baselines import ConstantScorer, HeuristicScorer, RandomScorer
from loopline.models._calibration import Calibrator
from loopline.models._lightgbm import LightGBMScorer
from loopline.models._linear import LinearScorer
from loopline.models._model import LINKS, Model, Scorer
from loopline.models._types import TrainedModel

FORMAT = "loopline.model"
VERSION = 1
MANIFEST = "model.json"
_REBUILD: dict[str, Callable[[dict[str, Any], dict[str, bytes]], Scorer]] = {
    "constant": lambda state, files: ConstantScorer.from_state(state),
    "random": lambda state, files: RandomScorer.from_state(state),
    "heuristic": lambda state, files: HeuristicScorer.from_state(state),
    "linear": lambda state, files: LinearScorer.from_state(state),
    "lightgbm": LightGBMScorer.from_state,
}


def save_model(model: TrainedModel, directory: Path | str) -> str:
    """Write ``model`` into ``directory`` (created if needed); return the sha256 hex of its ``model.json``."""
    if not isinstance(model, Model):
        raise ModelError(f"save_model stores models trained by loopline.models; got {type(model).__name__} "
                         f"('{getattr(model, 'name', '?')}')")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = model.scorer.files()
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "name": model.name, "family": model.family, "task": model.task,
        "features": list(model.features), "is_baseline": model.is_baseline,
        "classes": None if model.classes is None else list(model.classes), "threshold": model.threshold,
        "link": model.link, "negative_rate": model.negative_rate,
        "calibration": None if model.calibrator is None else model.calibrator.state(),
        "scorer": model.scorer.state(), "params": model.params, "fit_seconds": model.fit_seconds,
        "files": {name: _sha256(data) for name, data in files.items()},
    }
    text = json.dumps(manifest, sort_keys=True, indent=1, default=_plain).encode("utf-8")
    for name, data in files.items():
        _write_atomically(folder / name, data)
    _write_atomically(folder / MANIFEST, text)
    return _sha256(text)


def load_model(directory: Path | str, *, sha256: str) -> TrainedModel:
    """The model saved in ``directory``, once ``model.json`` matches ``sha256`` and every file it lists
    matches its recorded checksum."""
    folder = Path(directory)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelError(f"no model directory at {folder}; check the artifact path or re-register the model")
    if not path.is_file():
        raise ModelError(f"{path} does not exist: {folder} holds no saved model. Re-register the model.")
    text = path.read_bytes()
    _verify(path, text, sha256)
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); re-register the model") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ModelError(f"{path} is not a {FORMAT!r} version {VERSION} model file; it was written by another tool or "
                         "another loopline version. Re-train or upgrade loopline.")
    try:
        return _rebuild(manifest, _read_files(folder, manifest["files"]))
    except KeyError as exc:
        raise ModelError(f"{path} lacks the entry {exc}; the file is incomplete. Re-register the model.") from exc


def _read_files(folder: Path, listed: dict[str, str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{path} does not exist, but {folder / MANIFEST} lists it; the saved model is "
                             "incomplete. Re-register the model.")
        data = path.read_bytes()
        _verify(path, data, expected)
        files[name] = data
    return files


def _rebuild(manifest: dict[str, Any], files: dict[str, bytes]) -> Model:
    family, link = manifest["family"], manifest["link"]
    if family not in _REBUILD or link not in LINKS:
        raise ModelError(f"model.json: unknown family {family!r} or link {link!r}; expected a family in "
                         f"{sorted(_REBUILD)}. Was it saved by a newer loopline?")
    calibration = manifest["calibration"]
    classes = manifest["classes"]
    return Model(
        name=str(manifest["name"]), task=manifest["task"], features=tuple(manifest["features"]),
        scorer=_REBUILD[family](manifest["scorer"], files), link=link, is_baseline=bool(manifest["is_baseline"]),
        classes=None if classes is None else tuple(classes), threshold=manifest["threshold"],
        calibrator=None if calibration is None else Calibrator.from_state(calibration),
        negative_rate=manifest["negative_rate"], params=dict(manifest["params"]),
        fit_seconds=float(manifest["fit_seconds"]),
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify(path: Path, data: bytes, expected: str) -> None:
    actual = _sha256(data)
    if actual != str(expected).lower():
        raise IntegrityError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}. The artifact "
                             "was modified or is corrupt; re-register the model.")


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values, for ``json.dumps``."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in model.json")
