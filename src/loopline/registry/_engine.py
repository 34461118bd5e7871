"""Connections to the metadata database: an SQLite file (WAL) or PostgreSQL through psycopg.

Connections are not pooled (``NullPool``): the registry is opened by short-lived CLI commands and
by several processes at once, so each operation connects, works, and closes. SQLite connections
get ``journal_mode=WAL``, ``busy_timeout=30000`` and ``foreign_keys=ON``; write transactions on
SQLite start with ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing
half-way. Opened with ``create=False`` (read-only commands), a missing SQLite file is an error
instead of a new, empty database.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from loopline._errors import MissingExtraError, WorkspaceError
from loopline.workspace import ENV_DB_URL, Secret

BUSY_TIMEOUT_MS = 30_000
_WRITE = "loopline_write"
T = TypeVar("T")


def create_registry_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` (revealed, not masked); refuses backends the registry does not support.

    With ``create=False`` an SQLite file that does not exist yet is refused (:class:`WorkspaceError`)
    and nothing is created, neither the file nor its folder.
    """
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise WorkspaceError(
            f"{ENV_DB_URL}={str(Secret(url))!r} is not a database URL; expected e.g. "
            "'postgresql+psycopg://user@127.0.0.1:5432/loopline' or 'sqlite:////path/loopline.db'."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, create=create)
    if backend == "postgresql":
        return _postgres_engine(parsed)
    raise WorkspaceError(
        f"{ENV_DB_URL} names a {backend!r} database ({Secret(url)!s}); the registry stores metadata in "
        "SQLite (the default, no setting needed) or PostgreSQL ('postgresql+psycopg://user@host:5432/db')."
    )


def _sqlite_engine(url: URL, *, create: bool) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise WorkspaceError(
            f"{ENV_DB_URL}: an in-memory SQLite database cannot hold a registry shared between commands; "
            "give a file, e.g. 'sqlite:////path/loopline.db', or unset it to use the workspace's loopline.db."
        )
    path = Path(database).expanduser()
    if not create and not path.is_file():
        raise WorkspaceError(
            f"no metadata database at {path}: nothing has been trained or registered in this workspace yet. Check "
            "the --workspace path, or train and register a model first with 'loopline train'."
        )
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername == "postgresql+psycopg":
        try:
            importlib.import_module("psycopg")
        except ImportError:
            raise MissingExtraError("PostgreSQL metadata store", "postgres", "psycopg") from None
    return sa.create_engine(url, poolclass=NullPool)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that intends to write (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for consistent reads (one deferred transaction, rolled back at the end)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    """Whether ``exc`` is a duplicate key (another writer took the row first), not e.g. a bad foreign key."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(orig)


def retry_on_conflict(fn: Callable[[], T], *, attempts: int = 50) -> T:
    """Run ``fn`` (one whole transaction) again when a concurrent writer won a unique key race."""
    attempt = 0
    while True:
        try:
            return fn()
        except sa.exc.IntegrityError as exc:
            attempt += 1
            if not is_unique_violation(exc) or attempt >= attempts:
                raise
            time.sleep(random.uniform(0.0, 0.005 * attempt))
