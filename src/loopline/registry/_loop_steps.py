"""The continual-learning loop's history: every step it took, with its reason.

The loop (``loopline.loop``) retrains, judges a challenger and moves it through its gates (shadow, canary,
A/B), promoting or rolling back; each thing it does or decides is recorded here as one step: the model,
the deployment and the version concerned (the challenger or the champion), the ``stage`` (``retrain``,
``shadow``, ``canary``, ...) and its ``status`` (``started``, ``passed``, ``failed``, ``rolled_back``, ...),
a reason a person can read, and details as plain JSON (the numbers the decision rested on). So ``loopline``
can answer afterwards why a version is, or is not, the champion.

Stages and statuses are the loop's own vocabulary, so the registry does not list them; it only holds them
to short plain words (:func:`check_word`) so that they can be grouped and filtered. The table is
append-only and each step is its own transaction: a step that was acknowledged is stored, whatever happens
to the loop after it. Steps are read back oldest first, by ``at`` and then by the order they were stored
in, so steps recorded at the same instant keep their order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopline._errors import RegistryError
from loopline._json import to_plain
from loopline._names import check_name
from loopline.registry._aliases import check_text
from loopline.registry._engine import read_connection, write_transaction
from loopline.registry._lookup import require_model, require_version
from loopline.registry._schema import loop_steps

_WORD = re.compile(r"[a-z_]{1,32}")
_ACTOR_LENGTH = 200


@dataclass(frozen=True)
class LoopStep:
    """One step of the continual-learning loop, as stored.

    ``version`` is the version the step concerns (the challenger being judged, or the champion rolled
    back to), ``deployment`` the deployment whose traffic it touched; either is None when there is none.
    ``details`` is plain JSON (NaN kept as a float NaN); ``at`` is timezone-aware UTC.
    """

    id: int
    model: str
    deployment: str | None
    version: int | None
    stage: str
    status: str
    reason: str
    details: dict[str, Any]
    actor: str
    at: datetime


def check_word(field: str, value: object) -> str:
    """``value`` when it is a short plain word (1-32 lowercase letters or ``_``), as stages and statuses are.

    >>> check_word("stage", "canary")
    'canary'
    >>> check_word("status", "Rolled back")
    Traceback (most recent call last):
    ...
    loopline._errors.RegistryError: a loop step's status 'Rolled back' is not usable: expected 1-32 lowercase \
letters or '_' (e.g. 'rolled_back'). Put the words that explain it in the reason.
    """
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        example = "canary" if field == "stage" else "rolled_back"
        raise RegistryError(
            f"a loop step's {field} {value!r} is not usable: expected 1-32 lowercase letters or '_' (e.g. "
            f"{example!r}). Put the words that explain it in the reason."
        )
    return value


def record_step(engine: Engine, *, model: str, stage: str, status: str, reason: str, at: datetime,
                version: int | None = None, deployment: str | None = None,
                details: Mapping[str, Any] | None = None, actor: str = "loop") -> LoopStep:
    """Store one step of the loop (one transaction) and return it as stored; see the module docstring."""
    check_name(model, what="model", error=RegistryError, example="churn")
    stage, status = check_word("stage", stage), check_word("status", status)
    reason, actor = check_text("reason", reason), check_text("actor", actor)
    if len(actor) > _ACTOR_LENGTH:
        raise RegistryError(f"a loop step's actor is at most {_ACTOR_LENGTH} characters (who or what took the "
                            f"step, e.g. 'loop' or a user name), got {len(actor)}.")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise RegistryError(f"a loop step's version is a version number (1, 2, ...) or None, got {version!r}.")
    if deployment is not None:
        check_name(deployment, what="deployment", error=RegistryError, example="feed")
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise RegistryError(f"a loop step's at must be a timezone-aware datetime, e.g. datetime.now(UTC); got "
                            f"{at!r}.")
    plain = _plain_details(details)
    at = at.astimezone(UTC)
    with write_transaction(engine) as conn:
        require_model(conn, model)
        if version is not None:
            require_version(conn, model, version)
        inserted = conn.execute(loop_steps.insert().values(
            model=model, deployment=deployment, version=version, stage=stage, status=status, reason=reason,
            details=plain, actor=actor, at=at)).inserted_primary_key
    if inserted is None:  # pragma: no cover - every backend we support reports the new id
        raise RegistryError("the database did not report the id of the stored loop step.")
    return LoopStep(id=int(inserted[0]), model=model, deployment=deployment, version=version, stage=stage,
                    status=status, reason=reason, details=plain, actor=actor, at=at)


def history(engine: Engine, model: str, *, since: datetime | None = None,
            deployment: str | None = None) -> list[LoopStep]:
    """The steps stored for ``model`` (at or after ``since``; of one ``deployment``), oldest first (by ``at``,
    then in the order they were stored)."""
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        raise RegistryError(f"since must be a timezone-aware datetime, e.g. datetime.now(UTC) - timedelta(days=7); "
                            f"got {since!r}.")
    if deployment is not None:
        check_name(deployment, what="deployment", error=RegistryError, example="feed")
    with read_connection(engine) as conn:
        require_model(conn, model)
        query = sa.select(loop_steps).where(loop_steps.c.model == model)
        if since is not None:
            query = query.where(loop_steps.c.at >= since)
        if deployment is not None:
            query = query.where(loop_steps.c.deployment == deployment)
        rows = conn.execute(query.order_by(loop_steps.c.at, loop_steps.c.id)).all()
    return [LoopStep(id=row.id, model=row.model, deployment=row.deployment, version=row.version, stage=row.stage,
                     status=row.status, reason=row.reason, details=row.details, actor=row.actor, at=row.at)
            for row in rows]


def _plain_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """``details`` as plain JSON values (numpy numbers become Python ones, NaN stays a float NaN)."""
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise RegistryError(f"a loop step's details are a mapping of plain JSON values, e.g. {{'auc': 0.81}}, or "
                            f"None; got a {type(details).__name__}.")
    try:
        plain: dict[str, Any] = to_plain(details, nonfinite="keep", where="details")
    except TypeError as exc:
        raise RegistryError(f"a loop step's details must be plain JSON values (numbers, strings, booleans, None, "
                            f"lists and mappings of them): {exc}") from None
    return plain
