"""Connections: SQLite pragmas, foreign keys, supported backends and the postgres extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopline import MissingExtraError, WorkspaceError
from loopline.registry import Registry
from loopline.registry._engine import create_registry_engine, is_unique_violation
from loopline.registry._schema import aliases
from loopline.workspace import Workspace
from tests.registry.conftest import register


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_registry_engine(f"sqlite:///{tmp_path / 'sub' / 'meta.db'}")
    with engine.connect() as conn:
        pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "busy_timeout", "foreign_keys")}
    engine.dispose()
    assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}


def test_foreign_keys_and_unique_keys_are_enforced(workspace: Workspace, artifact: tuple[Path, str]) -> None:
    register(Registry(workspace), artifact)
    engine = create_registry_engine(workspace.db_url.reveal())
    row = {"name": "churn", "alias": "champion", "updated_at": sa.func.now()}
    with pytest.raises(sa.exc.IntegrityError) as missing, engine.begin() as conn:
        conn.execute(aliases.insert().values(version=7, **row))
    assert not is_unique_violation(missing.value)
    with engine.begin() as conn:
        conn.execute(aliases.insert().values(version=1, **row))
    with pytest.raises(sa.exc.IntegrityError) as duplicate, engine.begin() as conn:
        conn.execute(aliases.insert().values(version=1, **row))
    assert is_unique_violation(duplicate.value)
    engine.dispose()


def test_postgres_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"PostgreSQL metadata store needs the optional package 'psycopg'\. "
                                                r"Install it with: pip install 'loopline\[postgres\]'"):
        create_registry_engine("postgresql+psycopg://me@127.0.0.1:5432/loopline")


def test_a_bare_postgresql_url_uses_psycopg() -> None:
    engine = create_registry_engine("postgresql://me@127.0.0.1:5432/loopline")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_unsupported_databases_are_refused_without_showing_the_password() -> None:
    with pytest.raises(WorkspaceError, match=r"LOOPLINE_DB_URL names a 'mysql' database") as caught:
        create_registry_engine("mysql://me:hunter2@db/loopline")
    assert "hunter2" not in str(caught.value) and "me:***@db" in str(caught.value)
    with pytest.raises(WorkspaceError, match="an in-memory SQLite database cannot hold a registry"):
        create_registry_engine("sqlite://")


def test_the_registry_repr_hides_the_password(tmp_path: Path) -> None:
    registry = Registry(Workspace.open(tmp_path / "ws", env={}))
    assert "loopline.db" in repr(registry)
    with pytest.raises(WorkspaceError) as caught:
        Registry(Workspace.open(tmp_path / "ws", env={"LOOPLINE_DB_URL": "oracle://u:hunter2@h/x"}))
    assert "hunter2" not in str(caught.value)


def test_an_unreachable_server_is_a_workspace_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://me:hunter2@127.0.0.1:1/loopline?connect_timeout=2"
    with pytest.raises(WorkspaceError, match=r"cannot open the metadata database postgresql\+psycopg://me:\*\*\*@"
                                             r"127\.0\.0\.1:1/loopline.*Check LOOPLINE_DB_URL") as caught:
        Registry(Workspace.open(tmp_path / "ws", env={"LOOPLINE_DB_URL": url}))
    assert "hunter2" not in str(caught.value)
