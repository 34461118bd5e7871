"""Registering versions: numbering, stored artifacts, lineage, crash safety."""

from __future__ import annotations

import hashlib
import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopline import IntegrityError, RegistryError
from loopline.registry import Registry, _aliases, _versions
from loopline.registry._engine import create_registry_engine
from loopline.workspace import Workspace
from tests.registry.conftest import make_artifact, register, start


def _models_dir(workspace: Workspace, name: str = "churn") -> Path:
    return workspace.artifact_root / "models" / name


def test_versions_count_up_per_model_and_keep_their_lineage(registry: Registry, artifact: tuple[Path, str],
                                                           workspace: Workspace) -> None:
    run = start(registry)
    before = datetime.now(UTC)
    v1 = register(registry, artifact, run_id=run.run_id, report_path="/reports/churn.html")
    v2 = register(registry, artifact, run_id=run.run_id)
    other = register(registry, artifact, name="fraud")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.run_id == run.run_id and v1.sha256 == artifact[1]
    assert v1.features == ("tenure", "plan") and v1.baselines_beaten == ("prior", "rule")
    assert v1.metrics == {"valid": {"roc_auc": 0.81, "log_loss": 0.42}, "test": {"roc_auc": 0.79, "log_loss": 0.44}}
    assert (v1.spec_hash, v1.data_fingerprint, v1.code_version) == ("spec-abc", "data-123", "0.1.0+test")
    assert v1.report_path == "/reports/churn.html" and v2.report_path is None
    assert v1.created_at.tzinfo is not None and v1.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= v1.created_at <= datetime.now(UTC)
    assert v1.artifact_path.parent == _models_dir(workspace) and v1.artifact_path != v2.artifact_path
    assert v1.card_path == v1.artifact_path / "MODEL_CARD.md" and v1.card_path.is_file()
    # What the registry hands back is what it stored.
    assert registry.get_version("churn", 1) == v1
    assert registry.list_versions() == [v1, v2, other]
    assert registry.list_versions("churn") == [v1, v2]
    assert registry.list_models() == ["churn", "fraud"]
    assert registry.profile("churn", 1) == {"tenure": {"mean": 12.0}}


def test_the_stored_artifact_is_a_verified_copy(registry: Registry, artifact: tuple[Path, str]) -> None:
    folder, sha = artifact
    version = register(registry, artifact)
    shutil.rmtree(folder)  # the registry never points at the caller's folder
    stored = version.artifact_path
    assert hashlib.sha256((stored / "model.json").read_bytes()).hexdigest() == sha
    assert (stored / "weights.txt").read_text(encoding="utf-8") == "0.5 -1.25\n"
    assert sorted(p.name for p in stored.iterdir()) == ["MODEL_CARD.md", "model.json", "weights.txt"]


def test_the_card_describes_the_version(registry: Registry, artifact: tuple[Path, str]) -> None:
    context = {"intended_use": "Rank customers by churn risk for retention calls.",
               "splits": [{"name": "train", "rows": 700, "start": "2024-01-01", "end": "2024-02-29",
                           "label_rate": 0.2}],
               "threshold": 0.3125, "calibration": "isotonic",
               "caveats": ["column 'refund_at' may leak the label"]}
    register(registry, artifact)
    version = register(registry, artifact, card_context=context)
    card = version.card_path.read_text(encoding="utf-8")
    assert card.startswith("# Model card: churn v2\n")
    for expected in ("Rank customers by churn risk", "| train | 700 | 2024-01-01 | 2024-02-29 | 0.2000 | n/a |",
                     "| metric | valid | test |", "| roc_auc | 0.8100 | 0.7900 |", "- prior", "- rule",
                     "decision threshold: 0.3125", "calibration: isotonic", "- `tenure`",
                     "column 'refund_at' may leak the label", "`spec-abc`", "`data-123`", "0.1.0+test",
                     version.created_at.isoformat()):
        assert expected in card


def test_nan_metrics_survive_the_round_trip(registry: Registry, artifact: tuple[Path, str]) -> None:
    version = register(registry, artifact, metrics={"test": {"roc_auc": float("nan"), "log_loss": 0.5}})
    stored = registry.get_version("churn", version.version).metrics["test"]
    assert math.isnan(stored["roc_auc"]) and stored["log_loss"] == 0.5


@pytest.mark.parametrize("ref", [2, "2", "v2", "V2", " v2 "])
def test_versions_by_number_in_any_spelling(registry: Registry, artifact: tuple[Path, str], ref: int | str) -> None:
    register(registry, artifact)
    register(registry, artifact)
    assert registry.get_version("churn", ref).version == 2


def test_a_version_by_alias_lists_its_aliases(registry: Registry, artifact: tuple[Path, str]) -> None:
    register(registry, artifact)
    register(registry, artifact)
    registry.promote("churn", 1, reason="first")
    registry.set_alias("churn", "challenger", 1, reason="also")
    found = registry.get_version("churn", "champion")
    assert found.version == 1 and found.aliases == ("challenger", "champion")
    assert registry.get_version("churn", 2).aliases == ()


def test_unknown_names_versions_and_aliases_list_what_exists(registry: Registry, artifact: tuple[Path, str]) -> None:
    with pytest.raises(RegistryError, match=r"no model named 'churn': the registry is empty\. Train and register"):
        registry.get_version("churn", 1)
    register(registry, artifact)
    register(registry, artifact, name="fraud")
    with pytest.raises(RegistryError, match=r"no model named 'chrun' in the registry; known models: churn, fraud\."):
        registry.get_version("chrun", 1)
    with pytest.raises(RegistryError, match=r"no model named 'chrun'.*known models: churn, fraud"):
        registry.list_versions("chrun")
    register(registry, artifact)
    with pytest.raises(RegistryError, match=r"model 'churn' has no version 7; its versions are 1, 2 \(newest 2\)\."):
        registry.get_version("churn", "v7")
    with pytest.raises(RegistryError, match=r"model 'churn' has no alias 'champion'; it has no aliases yet\."):
        registry.get_version("churn", "champion")
    registry.set_alias("churn", "challenger", 2, reason="try it")
    with pytest.raises(RegistryError, match=r"no alias 'champion'; its aliases are challenger -> v2\. .*"
                                            r"'loopline models promote churn <version> --alias champion'"):
        registry.get_version("churn", "champion")
    with pytest.raises(RegistryError, match="a version is a number like 3"):
        registry.get_version("churn", True)


def test_a_mismatched_sha256_is_refused_and_leaves_nothing(registry: Registry, artifact: tuple[Path, str],
                                                           workspace: Workspace) -> None:
    folder, sha = artifact
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(IntegrityError, match=rf"model\.json has sha256 {sha}, but {wrong} was given"):
        register(registry, (folder, wrong))
    assert list(_models_dir(workspace).iterdir()) == []
    with pytest.raises(RegistryError, match="no model named 'churn'"):
        registry.list_versions("churn")


@pytest.mark.parametrize(("over", "message"), [
    ({"name": "../etc"}, r"model name '\.\./etc' is not usable"),
    ({"sha256": "abc"}, r"sha256 must be 64 hex digits .* got 'abc'"),
    ({"run_id": "nope"}, r"no run 'nope' in the registry\. Start one with Registry\.start_run"),
    ({"family": ""}, r"family must be a non-empty string"),
    ({"features": "tenure"}, r"features must be a list of names, got 'tenure'"),
    ({"profile": {"bad": object()}}, r"the profile must be plain JSON values; cannot store a object in the registry"),
])
def test_bad_arguments_are_refused_before_anything_is_copied(registry: Registry, artifact: tuple[Path, str],
                                                             workspace: Workspace, over: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        register(registry, artifact, **over)
    assert not (workspace.artifact_root / "models").exists() or not any((workspace.artifact_root / "models").rglob("*"))


def test_a_folder_that_is_not_a_saved_model_is_refused(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"artifact folder .*missing does not exist\. Save the model first"):
        register(registry, (tmp_path / "missing", "0" * 64))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match=r"empty has no model\.json; pass the folder written by"):
        register(registry, (tmp_path / "empty", "0" * 64))


def test_a_crash_after_the_copy_leaves_an_orphan_folder_but_no_version(
        registry: Registry, artifact: tuple[Path, str], workspace: Workspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    register(registry, artifact)

    def crash(*_: Any) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(_versions, "insert_version", crash)
    with pytest.raises(OSError, match="power cut"):
        register(registry, artifact)
    monkeypatch.undo()
    assert [v.version for v in registry.list_versions("churn")] == [1]
    assert len(list(_models_dir(workspace).iterdir())) == 2  # the orphan, complete and harmless
    # The registry still works, and the next version takes the next number.
    again = register(registry, artifact)
    assert again.version == 2 and again.card_path.read_text(encoding="utf-8").startswith("# Model card: churn v2")


def test_a_crash_during_the_copy_leaves_no_folder_at_all(registry: Registry, tmp_path: Path, workspace: Workspace,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    artifact = make_artifact(tmp_path / "saved")
    copied: list[str] = []
    real_copy = shutil.copyfile

    def copy_then_fail(src: str, dst: str, **kwargs: Any) -> object:
        if copied:  # the second file fails half-way: some bytes written, then an error
            Path(dst).write_bytes(b"0.5 -1")
            raise OSError("disk full")
        copied.append(src)
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        register(registry, artifact)
    monkeypatch.undo()
    assert copied and list(_models_dir(workspace).iterdir()) == []
    assert register(registry, artifact).version == 1


def test_every_stored_version_points_at_an_existing_artifact_relative_to_the_root(
        registry: Registry, artifact: tuple[Path, str], workspace: Workspace) -> None:
    for _ in range(3):
        register(registry, artifact)
    engine = create_registry_engine(workspace.db_url.reveal())
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT artifact_path, card_path FROM model_versions ORDER BY version")).all()
    engine.dispose()
    assert len(rows) == 3
    for (stored, card), version in zip(rows, registry.list_versions("churn"), strict=True):
        # Relative to the artifact root, so a moved workspace keeps working and a row cannot point elsewhere.
        assert stored.startswith("models/churn/") and not Path(stored).is_absolute()
        assert card == f"{stored}/MODEL_CARD.md"
        assert (workspace.artifact_root / stored / "model.json").is_file()
        assert version.artifact_path == workspace.artifact_root / stored


def test_registering_with_an_alias_moves_it_in_the_same_transaction(registry: Registry, artifact: tuple[Path, str]
                                                                    ) -> None:
    first = register(registry, artifact, alias="champion", reason="beats every baseline")
    assert first.aliases == ("champion",) and registry.get_version("churn", "champion") == first
    second = register(registry, artifact, alias="champion", reason="better on test", actor="nightly")
    assert registry.aliases("churn") == {"champion": 2}
    assert [(h.from_version, h.to_version, h.reason, h.actor) for h in registry.alias_history("churn")] == [
        (None, 1, "beats every baseline", "loop"), (1, 2, "better on test", "nightly")]
    assert registry.get_version("churn", 1).aliases == () and second.aliases == ("champion",)


def test_a_failure_in_the_alias_step_leaves_neither_the_version_nor_the_alias(
        registry: Registry, artifact: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    register(registry, artifact, alias="champion", reason="first")
    real_move = _aliases.move_alias

    def move_then_fail(*args: Any, **kwargs: Any) -> None:
        real_move(*args, **kwargs)  # the alias row and its history row are written, then the process fails
        raise OSError("connection lost")

    monkeypatch.setattr(_aliases, "move_alias", move_then_fail)
    with pytest.raises(OSError, match="connection lost"):
        register(registry, artifact, alias="champion", reason="second")
    monkeypatch.undo()
    assert [v.version for v in registry.list_versions("churn")] == [1]
    assert registry.aliases("churn") == {"champion": 1}
    assert [(h.from_version, h.to_version) for h in registry.alias_history("churn")] == [(None, 1)]
    assert register(registry, artifact).version == 2  # the number was never taken


@pytest.mark.parametrize(("over", "message"), [
    ({"alias": "v2", "reason": "x"}, r"alias 'v2' would read as a version number"),
    ({"alias": "champion"}, r"give a non-empty reason; it is kept in the registry's history"),
    ({"reason": "why"}, r"cannot register 'churn': a reason is kept with an alias move; pass alias= too"),
])
def test_a_bad_alias_is_refused_before_anything_is_copied(registry: Registry, artifact: tuple[Path, str],
                                                          workspace: Workspace, over: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        register(registry, artifact, **over)
    assert not (workspace.artifact_root / "models").exists() or not any((workspace.artifact_root / "models").rglob("*"))
