"""Schema migrations: the Alembic revision builds exactly the tables the code describes, once, under a lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from loopline import RegistryError
from loopline.registry import Registry
from loopline.registry._engine import create_registry_engine
from loopline.registry._migrate import alembic_config, head_revision
from loopline.registry._schema import metadata
from loopline.workspace import Workspace
from tests.registry.conftest import register


@pytest.fixture
def engine(workspace: Workspace) -> Iterator[Engine]:
    engine = create_registry_engine(workspace.db_url.reveal())
    yield engine
    engine.dispose()


def _include(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or name in metadata.tables


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _include})
        return list(compare_metadata(context, metadata))


def test_the_migration_builds_exactly_the_declared_tables(workspace: Workspace, engine: Engine) -> None:
    with engine.begin() as conn:  # someone else's table in the same database is none of our business
        conn.execute(sa.text("CREATE TABLE deployments (id INTEGER PRIMARY KEY)"))
    Registry(workspace)
    assert _differences(engine) == []
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        tables = set(sa.inspect(conn).get_table_names())
    assert {"runs", "model_versions", "aliases", "alias_history", "alembic_version", "deployments"} == tables


def test_downgrade_and_upgrade_round_trip(workspace: Workspace, engine: Engine) -> None:
    Registry(workspace)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}
    Registry(workspace)
    assert _differences(engine) == []


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
                                            r"0001\); it was written by a newer loopline\. Upgrade loopline\."):
        Registry(workspace)
