"""Saving and loading models without pickle, with checksums verified before anything is parsed.

A model directory holds ``model.json`` (format ``loopline.model`` version 1: name, family, task,
features, classes, threshold, link, downsampling rate, calibration, the scorer's state (constant
prior, random seed, heuristic rule and its 1-D mapping, linear coefficients, preprocessing state),
params, fit seconds, and ``files``: the sha256 of every other file) and, for LightGBM,
``booster.txt`` (LightGBM's text model). Each file is written atomically (:mod:`loopline._atomic`),
``model.json`` last; it is standard JSON, NaN and infinities written as null (:mod:`loopline._json`).
The sha256 of ``model.json`` is what the registry records; :func:`load_model` checks it, then every
listed file, before rebuilding the model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from loopline import _atomic as atomic
from loopline._errors import IntegrityError, ModelError
from loopline._json import dumps
from loopline._paths import resolve_inside
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
    atomic.make_dirs(folder)
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
    if model.fixed:  # written only when set, so models without it keep their exact manifest
        manifest["fixed"] = dict(model.fixed)
    text = dumps(manifest, sort_keys=True, indent=1, ascii_only=True).encode("utf-8")
    for name, data in files.items():
        atomic.write_bytes(folder / name, data)
    atomic.write_bytes(folder / MANIFEST, text)
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


def _is_plain_file_name(name: object) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "\x00" not in name
            and PurePosixPath(name).name == name and PureWindowsPath(name).name == name)


def _listed_paths(folder: Path, listed: object) -> dict[str, Path]:
    """The files ``model.json`` lists, as paths inside ``folder``; checked before any of them is opened.

    A listed name must be a plain file name: no separators, no ``..``, not absolute, and not a
    symbolic link out of the folder.
    """
    manifest = folder / MANIFEST
    if not isinstance(listed, dict):
        raise ModelError(f"{manifest}: 'files' must map file names to their sha256, got {type(listed).__name__}; "
                         "the file is damaged. Re-register the model.")
    paths: dict[str, Path] = {}
    for name in listed:
        if not _is_plain_file_name(name):
            raise ModelError(
                f"{manifest} lists the file {name!r}, which is not a plain file name inside {folder} (a name "
                "without '/', '\\', '..' or a drive): the manifest was altered. Nothing was read; re-register the "
                "model from a trusted copy."
            )
        paths[name] = resolve_inside(folder, name, what=f"the file listed in {manifest} as", error=ModelError,
                                     fix="Nothing was read; re-register the model from a trusted copy.")
    return paths


def _read_files(folder: Path, listed: dict[str, str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, path in _listed_paths(folder, listed).items():
        expected = listed[name]
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
        fit_seconds=float(manifest["fit_seconds"]), fixed=_fixed(manifest.get("fixed"), manifest["features"]),
    )


def _fixed(found: Any, features: list[str]) -> dict[str, Any]:
    if found is None:
        return {}
    if not isinstance(found, dict) or any(name not in features for name in found):
        raise ModelError(f"model.json: 'fixed' must map some of the model's features to values, got {found!r}.")
    return dict(found)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify(path: Path, data: bytes, expected: str) -> None:
    actual = _sha256(data)
    if actual != str(expected).lower():
        raise IntegrityError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}. The artifact "
                             "was modified or is corrupt; re-register the model.")
