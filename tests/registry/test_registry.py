"""The package's public face and loading models through it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import loopline.models
import loopline.registry
from loopline import RegistryError
from loopline.registry import Registry
from tests.registry.conftest import register


def test_public_names() -> None:
    assert set(loopline.registry.__all__) == {"AliasChange", "Control", "ControlKind", "Deployment", "ExperimentArm",
                                              "ExperimentRecord", "ModelVersion", "Registry", "Run", "RunStatus",
                                              "StoredAlert", "LoopStep", "render_card"}
    for name in loopline.registry.__all__:
        assert hasattr(loopline.registry, name)


def test_load_checks_the_artifact_through_models(registry: Registry, artifact: tuple[Path, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Path, str]] = []

    def fake_load_model(directory: Path, *, sha256: str) -> Any:
        calls.append((directory, sha256))
        return "model"

    monkeypatch.setattr("loopline.registry._registry.load_model", fake_load_model)
    register(registry, artifact)
    second = register(registry, artifact)
    registry.promote("churn", 2, reason="better")
    loaded: object = registry.load("churn", "champion")
    assert loaded == "model"
    assert calls == [(second.artifact_path, second.sha256)]


def test_load_of_a_missing_artifact_says_where_it_should_be(registry: Registry, artifact: tuple[Path, str]) -> None:
    version = register(registry, artifact)
    shutil.rmtree(version.artifact_path)
    with pytest.raises(RegistryError, match=r"the artifact of churn v1 is missing: .*model\.json does not exist\. "
                                            r"Restore the folder"):
        registry.load("churn", 1)
