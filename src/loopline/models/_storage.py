"""Saving and loading models without pickle, with checksums verified before anything is parsed.

A model directory holds ``model.json`` (everything but the booster: family, task, features,
classes, threshold, calibrator, the scorer's parameters and the preprocessing state, and the
sha256 of every other file) and, for LightGBM, ``booster.txt`` (LightGBM's text format). The
sha256 of ``model.json`` is what the registry records; ``load_model`` refuses a directory whose
files do not match.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from loopline._errors import IntegrityError, ModelError
from loopline.models._baselines import ConstantScorer, HeuristicScorer, RandomScorer
from loopline.models._calibration import Calibrator
from loopline.models._lightgbm import LightGBMScorer
from loopline.models._linear import LinearScorer
from loopline.models._model import Model, Scorer
from loopline.models._types import TrainedModel

FORMAT = "loopline.model"
VERSION = 1
MANIFEST = "model.json"


def save_model(model: TrainedModel, directory: Path | str) -> str:
    """Write ``model`` into ``directory`` (created if needed); return the sha256 of ``model.json``."""
    if not isinstance(model, Model):
        raise ModelError(f"only models trained by loopline can be saved, got {type(model).__name__}.")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = model.scorer.files()
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "name": model.name, "family": model.family, "task": model.task,
        "features": list(model.features), "is_baseline": model.is_baseline,
        "classes": None if model.classes is None else list(model.classes),
        "threshold": model.threshold, "negative_rate": model.negative_rate,
        "calibrator": None if model.calibrator is None else model.calibrator.state(),
        "params": model.params, "fit_seconds": model.fit_seconds, "scorer": model.scorer.state(), "files": checksums,
    }
    for name, data in files.items():
        _atomic_write(folder / name, data)
    text = json.dumps(manifest, sort_keys=True, indent=1, default=_json_default).encode("utf-8")
    _atomic_write(folder / MANIFEST, text)
    return hashlib.sha256(text).hexdigest()


def load_model(directory: Path | str, *, sha256: str) -> TrainedModel:
    """The model stored in ``directory``, after checking ``model.json`` against ``sha256`` and every
    other file against the checksums it lists."""
    folder = Path(directory)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelError(f"no model at {folder}: {MANIFEST} is missing. Re-register the model.")
    text = manifest_path.read_bytes()
    _verify(manifest_path, text, sha256)
    manifest = json.loads(text)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ModelError(f"{manifest_path} is not a loopline model of format version {VERSION}.")
    files: dict[str, bytes] = {}
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{path} is missing; the model at {folder} is incomplete. Re-register the model.")
        data = path.read_bytes()
        _verify(path, data, expected)
        files[name] = data
    state = manifest["scorer"]
    scorers: dict[str, Any] = {
        "constant": lambda: ConstantScorer(state["task"], state["prior"]),
        "random": lambda: RandomScorer(state["task"], state["seed"], state["prior"], state["quantiles"]),
        "heuristic": lambda: HeuristicScorer(state["task"], state["rule"], state["fill"], state["slope"],
                                             state["intercept"]),
        "linear": lambda: LinearScorer.from_state(state),
        "lightgbm": lambda: LightGBMScorer.from_state(state, files),
    }
    scorer: Scorer = scorers[manifest["family"]]()
    return Model(name=manifest["name"], task=manifest["task"], features=tuple(manifest["features"]), scorer=scorer,
                 is_baseline=manifest["is_baseline"],
                 classes=None if manifest["classes"] is None else tuple(manifest["classes"]),
                 threshold=manifest["threshold"],
                 calibrator=None if manifest["calibrator"] is None else Calibrator.from_state(manifest["calibrator"]),
                 negative_rate=manifest["negative_rate"], params=manifest["params"],
                 fit_seconds=manifest["fit_seconds"])


def _verify(path: Path, data: bytes, expected: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise IntegrityError(f"checksum mismatch for {path}: expected sha256 {expected}, found {actual}. The artifact "
                             "was modified or is corrupt; re-register the model.")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in model.json")
