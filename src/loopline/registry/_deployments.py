"""Deployments with their history, and the online experiments they run.

A deployment is stored as the JSON of its spec (``loopline.serving.DeploymentSpec`` validates it
before it gets here), one row per revision (1, 2, 3, ... per name), never updated except that a new
revision takes the ``active`` flag from the one before. Every version a spec names (a number or an
alias, in ``arms``, ``shadows`` and ``canary``) must exist when it is deployed.

A deployment with an ``experiment`` also records that experiment: its model, its arms with the
version each one served at that moment and its share, whether it interleaves, and when it started;
a later revision of the same deployment keeps the start and updates the arms, and a revision that
drops the experiment (or names another) ends it. An experiment belongs to one deployment and runs
once: its name is the salt of its assignment, so reusing it would hand its units the same arms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopline._errors import RegistryError
from loopline._names import check_name
from loopline.registry._aliases import check_text
from loopline.registry._engine import read_connection, retry_on_conflict, write_transaction
from loopline.registry._lookup import require_model, resolve
from loopline.registry._schema import deployments, experiments


@dataclass(frozen=True)
class Deployment:
    """One revision of a deployment: its spec (plain JSON values), who deployed it, why and when."""

    name: str
    revision: int
    spec: dict[str, Any]
    reason: str
    actor: str
    created_at: datetime
    active: bool


@dataclass(frozen=True)
class ExperimentArm:
    """An arm of a recorded experiment: the version it served when the experiment (re)started, the
    reference it was deployed with (a number or an alias such as ``challenger``) and its share of units."""

    version: int
    ref: str
    share: float


@dataclass(frozen=True)
class ExperimentRecord:
    """An online experiment as deployed: ``arms`` in order, control first."""

    name: str
    deployment: str
    model: str
    arms: dict[str, ExperimentArm]
    interleave: bool
    started_at: datetime
    ended_at: datetime | None

    @property
    def control(self) -> str:
        return next(iter(self.arms))


def deploy(engine: Engine, spec: Mapping[str, Any], *, actor: str, reason: str) -> Deployment:
    """Store ``spec`` as the next revision of its deployment; see :meth:`Registry.deploy`."""
    actor, reason = check_text("actor", actor), check_text("reason", reason)
    plain = _plain_spec(spec)

    def attempt() -> Deployment:
        with write_transaction(engine) as conn:
            arms = _resolve_versions(conn, plain)
            return _insert(conn, plain, arms, actor=actor, reason=reason)

    return retry_on_conflict(attempt)


def end_canary(engine: Engine, name: str, revision: int, *, reason: str, actor: str) -> Deployment | None:
    """A new revision of ``name`` without its canary, if revision ``revision`` is still the active one and
    has a canary; None when someone else already changed the deployment (nothing is written then)."""
    actor, reason = check_text("actor", actor), check_text("reason", reason)

    def attempt() -> Deployment | None:
        with write_transaction(engine) as conn:
            current = _active_row(conn, name)
            if current is None or current.revision != revision or not current.spec.get("canary"):
                return None
            plain = {**current.spec, "canary": None}
            return _insert(conn, plain, _resolve_versions(conn, plain), actor=actor, reason=reason)

    return retry_on_conflict(attempt)


def deployment(engine: Engine, name: str) -> Deployment:
    with read_connection(engine) as conn:
        row = _active_row(conn, name)
        if row is None:
            raise RegistryError(_unknown("deployment", name, deployment_names(conn),
                                         "Deploy it first with 'loopline deploy FILE'."))
        return _to_deployment(row)


def find_deployment(engine: Engine, name: str) -> Deployment | None:
    """The active revision of ``name``, or None when there is no such deployment."""
    with read_connection(engine) as conn:
        row = _active_row(conn, name)
        return None if row is None else _to_deployment(row)


def history(engine: Engine, name: str) -> list[Deployment]:
    with read_connection(engine) as conn:
        rows = conn.execute(sa.select(deployments).where(deployments.c.name == name)
                            .order_by(deployments.c.revision)).all()
        if not rows:
            raise RegistryError(_unknown("deployment", name, deployment_names(conn),
                                         "Deploy it first with 'loopline deploy FILE'."))
        return [_to_deployment(row) for row in rows]


def deployment_names(conn: Connection) -> list[str]:
    query = sa.select(deployments.c.name).where(deployments.c.active).distinct().order_by(deployments.c.name)
    return list(conn.execute(query).scalars())


def experiment(engine: Engine, name: str) -> ExperimentRecord:
    with read_connection(engine) as conn:
        row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise RegistryError(_unknown("experiment", name, experiment_names(conn),
                                         "An experiment is recorded when a deployment naming it is deployed."))
        arms = {arm: ExperimentArm(version=int(v["version"]), ref=str(v["ref"]), share=float(v["share"]))
                for arm, v in row.arms.items()}
        return ExperimentRecord(name=row.name, deployment=row.deployment, model=row.model, arms=arms,
                                interleave=bool(row.interleave), started_at=row.started_at, ended_at=row.ended_at)


def experiment_names(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(experiments.c.name).order_by(experiments.c.name)).scalars())


# writing ------------------------------------------------------------------------------------------

def _plain_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` checked for the keys the registry reads (the rest was validated by DeploymentSpec)."""
    if not isinstance(spec, Mapping):
        raise RegistryError(f"a deployment spec is a mapping (name, model, arms, ...), got {type(spec).__name__}; "
                            "validate it with loopline.serving.DeploymentSpec and pass spec.model_dump().")
    plain = dict(spec)
    name = check_name(plain.get("name"), what="deployment", error=RegistryError, example="feed")
    check_name(plain.get("model"), what=f"deployment {name!r}: model", error=RegistryError, example="churn")
    arms = plain.get("arms")
    if not isinstance(arms, Mapping) or not arms or not all(
            isinstance(v, Mapping) and "version" in v and "weight" in v for v in arms.values()):
        raise RegistryError(f"deployment {name!r}: arms must map each arm to {{version, weight}}, got {arms!r}.")
    if plain.get("experiment") is not None:
        check_name(plain["experiment"], what=f"deployment {name!r}: experiment", error=RegistryError,
                   example="ranker-ab")
    return plain


def _resolve_versions(conn: Connection, spec: Mapping[str, Any]) -> dict[str, ExperimentArm]:
    """Every version the spec names resolved to a number (errors say which key names a missing one);
    returns the arms with their versions."""
    name, model = spec["name"], spec["model"]
    try:
        require_model(conn, model)
    except RegistryError as exc:
        raise RegistryError(f"deployment {name!r}, model: {exc}") from None

    def number(where: str, ref: Any) -> int:
        try:
            return resolve(conn, model, ref)
        except RegistryError as exc:
            raise RegistryError(f"deployment {name!r}, {where}: {exc}") from None

    arms = {arm: ExperimentArm(version=number(f"arms.{arm}.version", value["version"]), ref=str(value["version"]),
                               share=float(value["weight"]))
            for arm, value in spec["arms"].items()}
    for i, ref in enumerate(spec.get("shadows") or ()):
        number(f"shadows[{i}]", ref)
    canary = spec.get("canary")
    if canary:
        number("canary.version", canary.get("version"))
    return arms


def _insert(conn: Connection, spec: dict[str, Any], arms: dict[str, ExperimentArm], *, actor: str,
            reason: str) -> Deployment:
    name = spec["name"]
    now = datetime.now(UTC)
    revision = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(deployments.c.revision), 0))
                                .where(deployments.c.name == name)).scalar_one()) + 1
    _record_experiment(conn, spec, arms, now)
    conn.execute(deployments.update().where(deployments.c.name == name, deployments.c.active).values(active=False))
    conn.execute(deployments.insert().values(name=name, revision=revision, spec=spec, reason=reason, actor=actor,
                                             created_at=now, active=True))
    return Deployment(name=name, revision=revision, spec=spec, reason=reason, actor=actor, created_at=now,
                      active=True)


def _record_experiment(conn: Connection, spec: Mapping[str, Any], arms: dict[str, ExperimentArm],
                       now: datetime) -> None:
    name, wanted = spec["name"], spec.get("experiment")
    running = sa.and_(experiments.c.deployment == name, experiments.c.ended_at.is_(None))
    ending = running if wanted is None else sa.and_(running, experiments.c.name != wanted)
    conn.execute(experiments.update().where(ending).values(ended_at=now))
    if wanted is None:
        return
    stored = {arm: {"version": a.version, "ref": a.ref, "share": a.share} for arm, a in arms.items()}
    values = {"model": spec["model"], "arms": stored, "interleave": bool(spec.get("interleave", False))}
    found = conn.execute(sa.select(experiments).where(experiments.c.name == wanted).with_for_update()).first()
    if found is None:
        conn.execute(experiments.insert().values(name=wanted, deployment=name, started_at=now, ended_at=None,
                                                 **values))
        return
    if found.deployment != name:
        raise RegistryError(
            f"deployment {name!r}, experiment: {wanted!r} is already run by deployment {found.deployment!r}; an "
            "experiment's name is the salt of its assignment, so each experiment belongs to one deployment. Choose "
            "another experiment name."
        )
    if found.ended_at is not None:
        raise RegistryError(
            f"deployment {name!r}, experiment: {wanted!r} ran from {found.started_at.isoformat()} to "
            f"{found.ended_at.isoformat()} and has ended; running it again would mix its units and data with the "
            "first run. Choose a new experiment name."
        )
    conn.execute(experiments.update().where(experiments.c.name == wanted).values(**values))


# reading ------------------------------------------------------------------------------------------

def _active_row(conn: Connection, name: str) -> Any:
    query = sa.select(deployments).where(deployments.c.name == name, deployments.c.active)
    return conn.execute(query.order_by(deployments.c.revision.desc()).limit(1)).first()


def _to_deployment(row: Any) -> Deployment:
    return Deployment(name=row.name, revision=row.revision, spec=dict(row.spec), reason=row.reason, actor=row.actor,
                      created_at=row.created_at, active=bool(row.active))


def _unknown(what: str, name: str, known: list[str], fix: str) -> str:
    listing = f"known {what}s: {', '.join(known)}" if known else f"there are no {what}s yet"
    return f"no {what} named {name!r} in the registry; {listing}. {fix}"
