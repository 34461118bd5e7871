"""Alembic environment for the registry's tables.

``Registry`` runs migrations itself (see ``loopline.registry._migrate``) and hands its connection
in through ``config.attributes["connection"]``. Developers can also drive Alembic by hand with a
config whose ``sqlalchemy.url`` is set, e.g. to autogenerate a new revision.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from loopline.registry._engine import create_registry_engine
from loopline.registry._schema import metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only our tables: other parts of loopline may keep their own tables in the same database."""
    if type_ == "table":
        return name in metadata.tables
    return True


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url in the Alembic config, or open a loopline Registry instead")
    engine = create_registry_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
