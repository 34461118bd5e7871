"""Schema migrations: the Alembic revision builds exactly the tables the code describes, once, under a lock."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from loopline import RegistryError
from loopline.registry import Registry
from loopline.registry._migrate import alembic_config, head_revision
from loopline.registry._schema import model_versions, runs
from loopline.workspace import Workspace
from tests.registry.conftest import register, schema_differences


def test_the_migration_builds_exactly_the_declared_tables(workspace: Workspace, engine: Engine) -> None:
    with engine.begin() as conn:  # someone else's table in the same database is none of our business
        conn.execute(sa.text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    Registry(workspace)
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        tables = set(sa.inspect(conn).get_table_names())
    assert {"runs", "model_versions", "aliases", "alias_history", "deployments", "controls", "experiments", "alerts",
            "loop_steps", "alembic_version", "someone_elses"} == tables


def test_downgrade_and_upgrade_round_trip(workspace: Workspace, engine: Engine) -> None:
    Registry(workspace)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}
    Registry(workspace)
    assert schema_differences(engine) == []


def test_reopening_keeps_the_data(workspace: Workspace, artifact: tuple[Path, str]) -> None:
    version = register(Registry(workspace), artifact)
    assert Registry(workspace).get_version("churn", 1) == version


def test_simultaneous_openers_migrate_once(workspace: Workspace) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_registry() -> None:
        try:
            barrier.wait(timeout=30)
            Registry(workspace)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_registry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Registry(workspace).list_models() == []


def test_a_database_from_a_newer_loopline_is_refused(workspace: Workspace, engine: Engine) -> None:
    Registry(workspace)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RegistryError, match=r"schema revision '9999', which this loopline does not know \(it knows "
                                            r"0001, 0002, 0003, 0004, 0005\); it was written by a newer loopline\. "
                                            r"Upgrade loopline\."):
        Registry(workspace)


def _at_0001_with_absolute_paths(workspace: Workspace, engine: Engine, artifact: tuple[Path, str],
                                 outside: Path) -> Path:
    """A database left by revision 0001: absolute paths, one under the artifact root, one elsewhere."""
    inside = workspace.artifact_root / "models" / "churn" / "abc123"
    shutil.copytree(artifact[0], inside)
    shutil.copytree(artifact[0], outside)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(runs.insert().values(
            run_id="r1", spec_name="churn", spec_hash="s", data_fingerprint="d", code_version="0.1.0", params={},
            status="running", metrics={}, timings={}, error=None, started_at=now - timedelta(days=2),
            finished_at=None))
        for name, folder in (("churn", inside), ("fraud", outside)):
            conn.execute(model_versions.insert().values(
                name=name, version=1, run_id="r1", artifact_path=str(folder), sha256=artifact[1], family="linear",
                task="binary", features=[], metrics={}, baselines_beaten=[], spec_hash="s", data_fingerprint="d",
                code_version="0.1.0", profile=None, card_path=str(folder / "MODEL_CARD.md"), report_path=None,
                created_at=now))
    return inside


def _stored(engine: Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, artifact_path, card_path FROM model_versions")).all()
    return {row.name: (row.artifact_path, row.card_path) for row in rows}


def test_revision_0002_stores_paths_under_the_artifact_root_relative_to_it(
        workspace: Workspace, engine: Engine, artifact: tuple[Path, str], tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    inside = _at_0001_with_absolute_paths(workspace, engine, artifact, outside)
    registry = Registry(workspace)  # upgrades to head, knowing the artifact root
    assert _stored(engine) == {
        "churn": ("models/churn/abc123", "models/churn/abc123/MODEL_CARD.md"),
        "fraud": (str(outside), str(outside / "MODEL_CARD.md")),  # not ours to rewrite; refused when read
    }
    assert registry.get_version("churn", 1).artifact_path == inside
    with pytest.raises(RegistryError, match=rf"the artifact_path of model 'fraud' v1 '{outside}' is refused: it lies "
                                            "outside the root"):
        registry.get_version("fraud", 1)
    # A run from before heartbeats is never reported abandoned: nothing says how long it may stay silent.
    assert registry.get_run("r1").status == "running" and registry.get_run("r1").heartbeat_at is None
    assert schema_differences(engine) == []

    with engine.begin() as conn:  # going back restores absolute paths, as revision 0001's code expects
        command.downgrade(alembic_config(conn, artifact_root=workspace.artifact_root), "0001")
    assert _stored(engine)["churn"] == (str(inside), str(inside / "MODEL_CARD.md"))
    with engine.connect() as conn:
        assert "heartbeat_at" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
