"""Saved models reload with identical predictions, without pickle; tampering is caught before loading."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from loopline import IntegrityError, ModelError
from loopline.models import load_model, save_model
from tests.evaluation.fakes import good_binary
from tests.models.conftest import Trained

TASKS = ["binary", "regression", "multiclass", "ranking"]
FAMILIES = ["constant", "random", "heuristic", "linear", "lightgbm"]


@pytest.mark.parametrize("task", TASKS)
def test_every_family_reloads_with_identical_predictions(task: str, trained: Callable[[str], Trained],
                                                         tmp_path: Path) -> None:
    found = trained(task)
    test = found.splits.test
    for family in FAMILIES:
        model = found.models[family]
        folder = tmp_path / family
        digest = save_model(model, folder)
        assert digest == hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()
        loaded = load_model(folder, sha256=digest)
        assert np.array_equal(loaded.predict(test), model.predict(test)), family
        for name in ("name", "task", "family", "features", "is_baseline", "classes", "threshold", "calibration",
                     "params", "fit_seconds"):
            assert getattr(loaded, name) == getattr(model, name), (family, name)
        assert loaded.importance() == model.importance()
        expected = {"booster.txt"} if family == "lightgbm" else set()
        assert {p.name for p in folder.iterdir()} == {"model.json", *expected}  # no pickle, no temp files left


def test_model_json_describes_the_model(trained: Callable[[str], Trained], tmp_path: Path) -> None:
    found = trained("binary")
    save_model(found.models["lightgbm"], tmp_path / "gbm")
    manifest = json.loads((tmp_path / "gbm" / "model.json").read_text())
    assert manifest["format"] == "loopline.model" and manifest["version"] == 1
    assert manifest["family"] == "lightgbm" and manifest["task"] == "binary" and manifest["classes"] == [0, 1]
    booster = (tmp_path / "gbm" / "booster.txt").read_bytes()
    assert manifest["files"] == {"booster.txt": hashlib.sha256(booster).hexdigest()}
    assert manifest["scorer"]["preprocessor"]["format"] == "loopline.features.preprocessor"
    save_model(found.models["heuristic"], tmp_path / "rule")
    rule = json.loads((tmp_path / "rule" / "model.json").read_text())["scorer"]
    assert rule["rule"] == found.spec.baseline.rule and len(rule["slope"]) == len(rule["intercept"]) == 1


def test_a_tampered_or_incomplete_artifact_is_refused(trained: Callable[[str], Trained], tmp_path: Path) -> None:
    folder = tmp_path / "m"
    digest = save_model(trained("binary").models["lightgbm"], folder)
    manifest, booster = folder / "model.json", folder / "booster.txt"

    with pytest.raises(IntegrityError) as info:
        load_model(folder, sha256="0" * 64)
    assert str(info.value).startswith(f"checksum mismatch for {manifest}: expected sha256 {'0' * 64}, got {digest}")
    assert "The artifact was modified or is corrupt; re-register the model." in str(info.value)

    original = manifest.read_text()
    manifest.write_text(original.replace('"threshold": 0.', '"threshold": 0.0', 1))
    with pytest.raises(IntegrityError, match=r"checksum mismatch for .*model\.json"):
        load_model(folder, sha256=digest)
    manifest.write_text(original)

    booster.write_text(booster.read_text().replace("shrinkage=0.05", "shrinkage=0.5", 1))
    with pytest.raises(IntegrityError, match=r"checksum mismatch for .*booster\.txt"):
        load_model(folder, sha256=digest)
    booster.unlink()
    with pytest.raises(ModelError, match=r"booster\.txt does not exist, but .*model\.json lists it"):
        load_model(folder, sha256=digest)
    with pytest.raises(ModelError, match=r"no model directory at .*nowhere"):
        load_model(tmp_path / "nowhere", sha256=digest)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"empty.model\.json does not exist"):
        load_model(tmp_path / "empty", sha256=digest)


def test_another_format_version_is_refused(trained: Callable[[str], Trained], tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_model(trained("regression").models["constant"], folder)
    manifest = json.loads((folder / "model.json").read_text())
    text = json.dumps({**manifest, "version": 2}).encode()
    (folder / "model.json").write_bytes(text)
    with pytest.raises(ModelError, match=r"is not a 'loopline.model' version 1 model file"):
        load_model(folder, sha256=hashlib.sha256(text).hexdigest())


def test_only_loopline_models_are_saved(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"save_model stores models trained by loopline.models; got FakeModel"):
        save_model(good_binary(), tmp_path / "fake")


def test_saving_again_replaces_the_files(trained: Callable[[str], Trained], tmp_path: Path) -> None:
    found = trained("binary")
    save_model(found.models["lightgbm"], tmp_path / "m")
    digest = save_model(found.models["linear"], tmp_path / "m")
    assert load_model(tmp_path / "m", sha256=digest).family == "linear"


@pytest.mark.parametrize("listed", ["../secret.txt", "ABSOLUTE", "sub/secret.txt", "sub\\secret.txt", "..", "LINK"])
def test_a_manifest_listing_a_file_outside_the_model_folder_is_refused_before_reading(
        listed: str, trained: Callable[[str], Trained], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "m"
    save_model(trained("binary").models["constant"], folder)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the model\n", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "secret.txt").write_bytes(secret.read_bytes())
    (folder / "LINK").symlink_to(secret)
    name = str(secret) if listed == "ABSOLUTE" else listed
    manifest = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    manifest["files"] = {name: hashlib.sha256(secret.read_bytes()).hexdigest()}  # the checksums all match
    text = json.dumps(manifest).encode()
    (folder / "model.json").write_bytes(text)
    opened: list[Path] = []
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        opened.append(self)
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(ModelError) as info:
        load_model(folder, sha256=hashlib.sha256(text).hexdigest())
    message = str(info.value)
    assert repr(name) in message and str(folder) in message and "re-register the model" in message
    if listed == "LINK":
        assert f"leads to {secret} through a symbolic link" in message
    else:
        assert "is not a plain file name inside" in message
    assert opened == [folder / "model.json"]  # nothing but the manifest was read
