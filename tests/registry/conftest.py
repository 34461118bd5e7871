"""Registry fixtures: every registry test runs on SQLite and, when a server is given, on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from loopline.registry import ModelVersion, Registry, Run
from loopline.registry._engine import create_registry_engine
from loopline.registry._schema import metadata
from loopline.workspace import Workspace

POSTGRES_ENV = "LOOPLINE_TEST_POSTGRES_URL"
SKIP_POSTGRES = "set LOOPLINE_TEST_POSTGRES_URL to run the registry tests against PostgreSQL"


def postgres_schema_url(base: str, schema: str) -> str:
    """``base`` with the session's search_path set to ``schema`` (psycopg passes ``options`` through)."""
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace; on PostgreSQL its tables live in a new schema, dropped afterwards."""
    if request.param == "sqlite":
        yield Workspace.open(tmp_path / "ws", env={})
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(SKIP_POSTGRES)
    schema = f"loopline_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, poolclass=NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield Workspace.open(tmp_path / "ws", env={"LOOPLINE_DB_URL": postgres_schema_url(base, schema)})
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def registry(workspace: Workspace) -> Registry:
    return Registry(workspace)


def make_artifact(folder: Path, payload: dict[str, Any] | None = None) -> tuple[Path, str]:
    """A saved-model folder (model.json plus a weights file) and the sha256 of its model.json."""
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(payload or {"family": "linear", "coef": [0.5, -1.25]}).encode()
    (folder / "model.json").write_bytes(data)
    (folder / "weights.txt").write_text("0.5 -1.25\n", encoding="utf-8")
    return folder, hashlib.sha256(data).hexdigest()


@pytest.fixture
def artifact(tmp_path: Path) -> tuple[Path, str]:
    return make_artifact(tmp_path / "saved")


def start(registry: Registry, spec_name: str = "churn") -> Run:
    return registry.start_run(spec_name=spec_name, spec_hash="spec-abc", data_fingerprint="data-123",
                              params={"seed": 0}, code_version="0.1.0+test")


def register(registry: Registry, artifact: tuple[Path, str], *, name: str = "churn", run_id: str | None = None,
             **over: Any) -> ModelVersion:
    """Register ``artifact`` with plausible lineage; keyword arguments override any field."""
    folder, sha = artifact
    fields: dict[str, Any] = {
        "name": name, "run_id": run_id or start(registry, name).run_id, "artifact_dir": folder, "sha256": sha,
        "family": "linear", "task": "binary", "features": ["tenure", "plan"],
        "metrics": {"valid": {"roc_auc": 0.81, "log_loss": 0.42}, "test": {"roc_auc": 0.79, "log_loss": 0.44}},
        "baselines_beaten": ["prior", "rule"], "spec_hash": "spec-abc", "data_fingerprint": "data-123",
        "code_version": "0.1.0+test", "profile": {"tenure": {"mean": 12.0}},
    }
    fields.update(over)
    return registry.register_model(**fields)


# -- migrations: one engine on the workspace's database, and what tests compare before and after a revision ----

@pytest.fixture
def engine(workspace: Workspace) -> Iterator[Engine]:
    engine = create_registry_engine(workspace.db_url.reveal())
    yield engine
    engine.dispose()


def _include(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or name in metadata.tables


def schema_differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate finds between the database and the declared tables (others' tables ignored)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _include})
        return list(compare_metadata(context, metadata))


def table_rows(engine: Engine, tables: Sequence[sa.Table]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables``, sorted, by table name: equal before and after a migration that keeps them."""
    with engine.connect() as conn:
        return {t.name: sorted(tuple(row) for row in conn.execute(sa.select(t)).all()) for t in tables}
