"""Aliases (``champion``, ``challenger``, ...): moved in one transaction, every move kept in the history."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopline._errors import RegistryError
from loopline.registry._engine import read_connection, retry_on_conflict, write_transaction
from loopline.registry._lookup import alias_map, describe_aliases, require_model, require_version
from loopline.registry._schema import alias_history, aliases
from loopline.registry._types import AliasChange

_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
_LOOKS_LIKE_VERSION = re.compile(r"[vV]\d+")


def check_alias(alias: str) -> None:
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise RegistryError(
            f"alias {alias!r} is not usable: expected 1-100 letters, digits, '_', '.' or '-', starting with a "
            "letter, e.g. 'champion' or 'challenger'."
        )
    if _LOOKS_LIKE_VERSION.fullmatch(alias):
        raise RegistryError(f"alias {alias!r} would read as a version number; choose a name such as 'champion'.")


def check_text(label: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"give a non-empty {label}; it is kept in the registry's history (got {value!r}).")
    return value.strip()


def set_alias(engine: Engine, name: str, alias: str, version: int, *, reason: str, actor: str) -> AliasChange:
    """Point ``alias`` of ``name`` at ``version`` and record the move."""
    check_alias(alias)
    reason, actor = check_text("reason", reason), check_text("actor", actor)
    if isinstance(version, bool) or not isinstance(version, int):
        raise RegistryError(f"set_alias takes a version number, e.g. 3; got {version!r}.")

    def attempt() -> AliasChange:
        with write_transaction(engine) as conn:
            require_version(conn, name, version)
            return move_alias(conn, name, alias, version, reason=reason, actor=actor)

    return retry_on_conflict(attempt)


def rollback(engine: Engine, name: str, *, alias: str, reason: str, actor: str) -> AliasChange:
    """Point ``alias`` back at the version it held before its last change, and record that move."""
    check_alias(alias)
    reason, actor = check_text("reason", reason), check_text("actor", actor)

    def attempt() -> AliasChange:
        with write_transaction(engine) as conn:
            require_model(conn, name)
            _lock_alias(conn, name, alias)
            last = conn.execute(
                sa.select(alias_history.c.from_version, alias_history.c.to_version)
                .where(alias_history.c.name == name, alias_history.c.alias == alias)
                .order_by(alias_history.c.id.desc()).limit(1)
            ).first()
            if last is None:
                raise RegistryError(
                    f"cannot roll back alias {alias!r} of model {name!r}: it has never been set, so there is no "
                    f"history to go back to; {describe_aliases(alias_map(conn, name))}."
                )
            if last.from_version is None:
                raise RegistryError(
                    f"cannot roll back alias {alias!r} of model {name!r}: its only change pointed it at "
                    f"v{last.to_version} for the first time, so there is no earlier version. Point it at another "
                    f"version with 'loopline models promote {name} <version> --alias {alias}'."
                )
            return move_alias(conn, name, alias, int(last.from_version), reason=reason, actor=actor)

    return retry_on_conflict(attempt)


def _lock_alias(conn: Connection, name: str, alias: str) -> int | None:
    query = (sa.select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
             .with_for_update())
    found = conn.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def move_alias(conn: Connection, name: str, alias: str, version: int, *, reason: str, actor: str) -> AliasChange:
    """Point ``alias`` at ``version`` and append the move to the history, on the caller's transaction."""
    current = _lock_alias(conn, name, alias)
    now = datetime.now(UTC)
    if current is None:
        conn.execute(aliases.insert().values(name=name, alias=alias, version=version, updated_at=now))
    else:
        conn.execute(aliases.update().where(aliases.c.name == name, aliases.c.alias == alias)
                     .values(version=version, updated_at=now))
    change = AliasChange(name=name, alias=alias, from_version=current, to_version=version, reason=reason,
                         actor=actor, ts=now)
    conn.execute(alias_history.insert().values(
        name=name, alias=alias, from_version=current, to_version=version, reason=reason, actor=actor, ts=now))
    return change


def history(engine: Engine, name: str, alias: str | None = None) -> list[AliasChange]:
    """Every move of ``name``'s aliases (or of one alias), oldest first."""
    with read_connection(engine) as conn:
        require_model(conn, name)
        query = sa.select(alias_history).where(alias_history.c.name == name).order_by(alias_history.c.id)
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        return [AliasChange(name=row.name, alias=row.alias, from_version=row.from_version, to_version=row.to_version,
                            reason=row.reason, actor=row.actor, ts=row.ts) for row in conn.execute(query)]


def current_aliases(engine: Engine, name: str) -> dict[str, int]:
    with read_connection(engine) as conn:
        require_model(conn, name)
        return alias_map(conn, name)
