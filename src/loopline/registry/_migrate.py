"""Schema upgrades: Alembic ``upgrade head``, run when a Registry opens, safe against concurrent openers.

Openers first look at the recorded revision without locking; only when it is behind do they take
the database's write lock (``BEGIN IMMEDIATE`` on SQLite, ``pg_advisory_xact_lock`` on PostgreSQL)
and run the upgrade inside that one transaction, so the loser of a race finds the schema at head
and does nothing. Alembic is configured in code; there is no ``alembic.ini``. The opener's artifact
root is handed to the migrations (``config.attributes["artifact_root"]``) for those that rewrite
stored paths.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from loopline._errors import RegistryError
from loopline.registry._engine import read_connection, write_transaction

SCRIPT_LOCATION = Path(__file__).resolve().with_name("migrations")
# Any fixed 64-bit number; every loopline process agrees on it ("loopline" in ASCII).
ADVISORY_LOCK_KEY = 0x6C6F6F706C696E65


def alembic_config(connection: Connection | None = None, *, artifact_root: Path | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (``connection`` is handed to env.py,
    ``artifact_root`` to the migrations that rewrite stored paths)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["artifact_root"] = artifact_root
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RegistryError(f"no registry migrations found in {SCRIPT_LOCATION}; reinstall loopline.")
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, *, artifact_root: Path | None = None, attempts: int = 5) -> None:
    """Bring the metadata database's schema to the newest revision (no-op when it already is).

    SQLite can answer "database is locked" at once, without waiting out its busy timeout, to a
    connection that opens while another switches a new file to WAL mode; such an opener tries again
    (``attempts`` times in all, backing off), since the schema is then usually already at head.
    """
    for attempt in range(1, attempts + 1):
        try:
            _upgrade(engine, artifact_root=artifact_root)
            return
        except sa.exc.OperationalError as exc:
            if attempt == attempts or "database is locked" not in str(exc.orig):
                raise
            time.sleep(0.1 * attempt)


def _upgrade(engine: Engine, *, artifact_root: Path | None) -> None:
    head = head_revision()
    with read_connection(engine) as conn:
        current = current_revision(conn)
    if current == head:
        return
    _check_known(current)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        if current_revision(conn) != head:
            command.upgrade(alembic_config(conn, artifact_root=artifact_root), "head")


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision not in known:
        raise RegistryError(
            f"the metadata database is at schema revision {revision!r}, which this loopline does not know "
            f"(it knows {', '.join(sorted(known))}); it was written by a newer loopline. Upgrade loopline."
        )
