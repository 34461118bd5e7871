"""Stored models reload with identical predictions, and tampering is caught before loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loopline import IntegrityError, ModelError
from loopline.models import load_model, save_model, train_baselines, train_candidates
from tests.models.samples import spec, splits


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass", "ranking"])
def test_every_family_round_trips_exactly(task: str, tmp_path: Path) -> None:
    s = splits(task, n=1200)
    sp = spec(task, baseline={"rule": "x1"}) if task != "multiclass" else spec(task)
    for model in [*train_baselines(s, sp), *train_candidates(s, sp)]:
        folder = tmp_path / task / model.name
        digest = save_model(model, folder)
        loaded = load_model(folder, sha256=digest)
        assert np.array_equal(loaded.predict(s.test), model.predict(s.test)), model.name
        assert (loaded.threshold, loaded.calibration, loaded.classes) == (model.threshold, model.calibration,
                                                                           model.classes)
        assert not list(folder.glob("*.pkl")) and not list(folder.glob(".*"))


def test_tampering_and_missing_files_are_refused(tmp_path: Path) -> None:
    s = splits("binary", n=1200)
    model = next(m for m in train_candidates(s, spec("binary")) if m.name == "lightgbm")
    digest = save_model(model, tmp_path / "m")
    with pytest.raises(IntegrityError, match=r"checksum mismatch for .*model\.json"):
        load_model(tmp_path / "m", sha256="0" * 64)
    booster = tmp_path / "m" / "booster.txt"
    booster.write_text(booster.read_text().replace("shrinkage=0.05", "shrinkage=0.5", 1))
    with pytest.raises(IntegrityError, match=r"booster\.txt"):
        load_model(tmp_path / "m", sha256=digest)
    booster.unlink()
    with pytest.raises(ModelError, match=r"booster\.txt is missing"):
        load_model(tmp_path / "m", sha256=digest)
    with pytest.raises(ModelError, match=r"model\.json is missing"):
        load_model(tmp_path / "nowhere", sha256=digest)
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert manifest["files"]["booster.txt"] and manifest["family"] == "lightgbm"
