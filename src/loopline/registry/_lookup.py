"""Reading versions back, and the errors that list what exists when a name, version or alias is wrong.

Stored artifact and card paths are relative to the artifact root and resolved inside it; a stored
path that would lead elsewhere (absolute outside the root, ``..``, a symbolic link out) is refused
with a :class:`RegistryError` naming the model, the version and the path. Rows written before schema
revision 0002 may hold absolute paths: those are accepted only when they lie inside the current
artifact root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopline._errors import RegistryError
from loopline._paths import relative_inside, resolve_inside
from loopline.registry._schema import aliases, model_versions
from loopline.registry._types import ModelVersion

_VERSION_REF = re.compile(r"[vV]?(\d+)")


def parse_version_ref(ref: int | str) -> int | str:
    """A version number from ``3``, ``"3"`` or ``"v3"``; anything else is returned as an alias name.

    >>> parse_version_ref("v3"), parse_version_ref("3"), parse_version_ref(3), parse_version_ref("champion")
    (3, 3, 3, 'champion')
    """
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise RegistryError(f"a version is a number like 3, '3' or 'v3', or an alias like 'champion'; got {ref!r}")
    if isinstance(ref, int):
        return ref
    text = ref.strip()
    match = _VERSION_REF.fullmatch(text)
    return int(match.group(1)) if match else text


def model_names(conn: Connection) -> list[str]:
    query = sa.select(model_versions.c.name).distinct().order_by(model_versions.c.name)
    return list(conn.execute(query).scalars())


def require_model(conn: Connection, name: str) -> None:
    """Raise :class:`RegistryError` listing the known models when ``name`` has no versions."""
    found = conn.execute(sa.select(model_versions.c.name).where(model_versions.c.name == name).limit(1)).first()
    if found is not None:
        return
    known = model_names(conn)
    if not known:
        raise RegistryError(f"no model named {name!r}: the registry is empty. Train and register one with "
                            "'loopline train'.")
    raise RegistryError(f"no model named {name!r} in the registry; known models: {', '.join(known)}.")


def version_numbers(conn: Connection, name: str) -> list[int]:
    query = sa.select(model_versions.c.version).where(model_versions.c.name == name).order_by(model_versions.c.version)
    return list(conn.execute(query).scalars())


def require_version(conn: Connection, name: str, version: int) -> None:
    """Raise :class:`RegistryError` naming the model's versions when ``version`` does not exist."""
    query = sa.select(model_versions.c.version).where(
        model_versions.c.name == name, model_versions.c.version == version)
    if conn.execute(query).first() is not None:
        return
    require_model(conn, name)
    numbers = version_numbers(conn, name)
    raise RegistryError(f"model {name!r} has no version {version}; its versions are "
                        f"{', '.join(str(n) for n in numbers)} (newest {numbers[-1]}).")


def alias_map(conn: Connection, name: str) -> dict[str, int]:
    query = sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.name == name).order_by(aliases.c.alias)
    return {row.alias: row.version for row in conn.execute(query)}


def describe_aliases(found: dict[str, int]) -> str:
    if not found:
        return "it has no aliases yet"
    return "its aliases are " + ", ".join(f"{alias} -> v{version}" for alias, version in found.items())


def resolve(conn: Connection, name: str, ref: int | str) -> int:
    """The version number ``ref`` (a number or an alias) stands for; errors list what exists."""
    parsed = parse_version_ref(ref)
    if isinstance(parsed, int):
        require_version(conn, name, parsed)
        return parsed
    found = alias_map(conn, name)
    if parsed in found:
        return found[parsed]
    require_model(conn, name)
    raise RegistryError(
        f"model {name!r} has no alias {parsed!r}; {describe_aliases(found)}. Give a version number, or point "
        f"the alias at one with 'loopline models promote {name} <version> --alias {parsed}'."
    )


def stored_path(root: Path, stored: str, *, name: str, version: int, column: str) -> Path:
    """``stored`` (a row's ``artifact_path`` or ``card_path``) resolved inside the artifact ``root``."""
    what = f"the {column} of model {name!r} v{version}"
    fix = (f"The row was edited or copied from another workspace; point it at the version's folder under "
           f"{root / 'models' / name} or register the model again.")
    if Path(stored).is_absolute():  # written before schema revision 0002
        stored = relative_inside(root, Path(stored), what=what, error=RegistryError, fix=fix)
    return resolve_inside(root, stored, what=what, error=RegistryError, fix=fix)


def to_version(row: Any, alias_names: list[str], root: Path) -> ModelVersion:
    def path(column: str) -> Path:
        return stored_path(root, getattr(row, column), name=row.name, version=row.version, column=column)

    return ModelVersion(
        name=row.name, version=row.version, run_id=row.run_id, artifact_path=path("artifact_path"),
        sha256=row.sha256, family=row.family, task=row.task, features=tuple(row.features),
        metrics={split: dict(values) for split, values in row.metrics.items()},
        baselines_beaten=tuple(row.baselines_beaten), spec_hash=row.spec_hash,
        data_fingerprint=row.data_fingerprint, code_version=row.code_version, created_at=row.created_at,
        card_path=path("card_path"), report_path=row.report_path, aliases=tuple(sorted(alias_names)),
    )


def fetch_versions(conn: Connection, root: Path, name: str | None = None,
                   version: int | None = None) -> list[ModelVersion]:
    """Versions (all, one model's, or one) with the aliases pointing at each, ordered by name and number;
    their paths resolved inside the artifact ``root``."""
    columns = [c for c in model_versions.c if c.name != "profile"]  # profiles are large; see Registry.profile
    query = sa.select(*columns).order_by(model_versions.c.name, model_versions.c.version)
    alias_query = sa.select(aliases.c.name, aliases.c.alias, aliases.c.version)
    if name is not None:
        query = query.where(model_versions.c.name == name)
        alias_query = alias_query.where(aliases.c.name == name)
    if version is not None:
        query = query.where(model_versions.c.version == version)
    pointing: dict[tuple[str, int], list[str]] = {}
    for row in conn.execute(alias_query):
        pointing.setdefault((row.name, row.version), []).append(row.alias)
    return [to_version(row, pointing.get((row.name, row.version), []), root) for row in conn.execute(query)]
