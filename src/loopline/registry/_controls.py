"""Kill switches: a model (every version, or one), an experiment or a deployment turned off or on again.

The table is append-only: every switch is a row with who, why and when, and the newest row of a
target is its state. Serving polls :func:`current` and acts within a second (see
``loopline.serving.Controls``). A target must exist when it is switched, so a misspelt name is an
error instead of a switch that turns nothing off; a version given as an alias is pinned to the number
it points at now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopline._errors import RegistryError
from loopline.registry._aliases import check_text
from loopline.registry._deployments import deployment_names, experiment_names
from loopline.registry._engine import read_connection, write_transaction
from loopline.registry._lookup import model_names, require_model, resolve
from loopline.registry._schema import controls

ControlKind = Literal["model", "experiment", "deployment"]
KINDS: tuple[str, ...] = get_args(ControlKind)


@dataclass(frozen=True)
class Control:
    """The state of one kill switch: ``version`` is None when it applies to every version of a model."""

    kind: ControlKind
    name: str
    version: int | None
    killed: bool
    reason: str
    actor: str
    at: datetime

    @property
    def target(self) -> str:
        return f"{self.kind} {self.name}" + ("" if self.version is None else f" v{self.version}")


def set_killed(engine: Engine, kind: ControlKind | None, name: str, killed: bool, reason: str, *,
               version: int | str | None = None, actor: str) -> Control:
    """Turn ``name`` off (``killed=True``) or on again; ``kind`` None finds it among models, experiments and
    deployments (an error when it is none or several of them)."""
    reason, actor = check_text("reason", reason), check_text("actor", actor)
    if not isinstance(killed, bool):
        raise RegistryError(f"killed must be True or False, got {killed!r}.")
    with write_transaction(engine) as conn:
        kind = _kind(conn, name) if kind is None else kind
        number = _check_target(conn, kind, name, version)
        now = datetime.now(UTC)
        conn.execute(controls.insert().values(kind=kind, name=name, version=number, killed=killed, reason=reason,
                                              actor=actor, at=now))
        return Control(kind=kind, name=name, version=number, killed=killed, reason=reason, actor=actor, at=now)


def current(engine: Engine, *, history: bool = False) -> list[Control]:
    """The state of every target ever switched (its newest row), or with ``history`` every row, oldest first."""
    with read_connection(engine) as conn:
        rows = conn.execute(sa.select(controls).order_by(controls.c.id)).all()
    found = [_to_control(row) for row in rows]
    if history:
        return found
    latest = {(c.kind, c.name, c.version): c for c in found}
    return sorted(latest.values(), key=lambda c: (c.kind, c.name, -1 if c.version is None else c.version))


def _kind(conn: Connection, name: str) -> ControlKind:
    found: list[ControlKind] = []
    if name in model_names(conn):
        found.append("model")
    if name in experiment_names(conn):
        found.append("experiment")
    if name in deployment_names(conn):
        found.append("deployment")
    if len(found) == 1:
        return found[0]
    if found:
        raise RegistryError(f"{name!r} names a {' and a '.join(found)}; say which one to switch (kind "
                            f"{' or '.join(repr(k) for k in found)}, '--kind' on the command line).")
    raise RegistryError(f"nothing named {name!r} to switch off: it is not a model, an experiment or a deployment "
                        f"in the registry. {_known(conn)}")


def _check_target(conn: Connection, kind: str, name: str, version: int | str | None) -> int | None:
    if kind not in KINDS:
        raise RegistryError(f"a kill switch targets a {', '.join(KINDS[:-1])} or {KINDS[-1]}, got kind {kind!r}.")
    if version is not None and kind != "model":
        raise RegistryError(f"only a model's switch takes a version; {kind} {name!r} is switched as a whole. "
                            "Leave the version out.")
    if kind == "model":
        require_model(conn, name)
        return None if version is None else resolve(conn, name, version)
    names = experiment_names(conn) if kind == "experiment" else deployment_names(conn)
    if name not in names:
        listing = f"known {kind}s: {', '.join(names)}" if names else f"there are no {kind}s yet"
        raise RegistryError(f"no {kind} named {name!r} to switch; {listing}.")
    return None


def _known(conn: Connection) -> str:
    parts = [f"{label}: {', '.join(names)}" for label, names in (
        ("models", model_names(conn)), ("experiments", experiment_names(conn)),
        ("deployments", deployment_names(conn))) if names]
    return ("Known " + "; ".join(parts) + ".") if parts else "The registry is empty."


def _to_control(row: Any) -> Control:
    return Control(kind=row.kind, name=row.name, version=row.version, killed=bool(row.killed), reason=row.reason,
                   actor=row.actor, at=row.at)
