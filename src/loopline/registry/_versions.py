"""Registering a model version: copy and verify the artifact, write its card, insert its row.

The order is what makes a crash harmless: the artifact folder is complete and verified at its final
path before the transaction that allocates the version number starts, the card is written
(atomically) inside that transaction, and the row is the last thing written. A crash before the
commit leaves an orphan folder and no version; a version row always points at a whole artifact.

The version row, its metrics and, when asked, the move of an alias (e.g. ``champion``) with its
history row are one transaction: a failure anywhere leaves neither the version nor the alias move.
Paths are stored relative to the artifact root.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopline import _atomic as atomic
from loopline._errors import RegistryError
from loopline._names import check_name
from loopline._paths import relative_inside
from loopline.registry import _aliases
from loopline.registry._artifacts import CARD_FILE, check_source, store
from loopline.registry._card import render_card
from loopline.registry._engine import read_connection, retry_on_conflict, write_transaction
from loopline.registry._schema import dumps, model_versions, runs
from loopline.registry._types import ModelVersion

_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_model_name(name: str) -> None:
    check_name(name, what="model", error=RegistryError, example="churn")


def register(engine: Engine, artifact_root: Path, *, name: str, run_id: str, artifact_dir: Path, sha256: str,
             family: str, task: str, features: list[str], metrics: Mapping[str, Mapping[str, float]],
             baselines_beaten: list[str], spec_hash: str, data_fingerprint: str, code_version: str,
             profile: dict[str, Any] | None, report_path: str | None,
             card_context: Mapping[str, Any] | None, alias: str | None = None, reason: str | None = None,
             actor: str = "loop") -> ModelVersion:
    """Store ``artifact_dir`` as the next version of ``name``; see :meth:`Registry.register_model`."""
    check_model_name(name)
    if alias is not None:
        _aliases.check_alias(alias)
        reason = _aliases.check_text("reason", reason or "")
        actor = _aliases.check_text("actor", actor)
    elif reason is not None:
        raise RegistryError(f"cannot register {name!r}: a reason is kept with an alias move; pass alias= too "
                            "(e.g. alias='champion'), or leave reason out.")
    sha256 = sha256.lower() if isinstance(sha256, str) else sha256
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise RegistryError(f"cannot register {name!r}: sha256 must be 64 hex digits (the sha256 of model.json "
                            f"that save_model returns), got {sha256!r}.")
    for label, value in (("family", family), ("task", task)):
        if not isinstance(value, str) or not value:
            raise RegistryError(f"cannot register {name!r}: {label} must be a non-empty string, got {value!r}.")
    for label, values in (("features", features), ("baselines_beaten", baselines_beaten)):
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise RegistryError(f"cannot register {name!r}: {label} must be a list of names, got {values!r}.")
    try:
        dumps(profile)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"cannot register {name!r}: the profile must be plain JSON values; {exc}.") from None
    artifact_dir = Path(artifact_dir)
    check_source(artifact_dir, name)
    with read_connection(engine) as conn:
        _require_run(conn, name, run_id)
    plain_metrics = {str(split): {str(k): float(v) for k, v in values.items()} for split, values in metrics.items()}

    final = store(artifact_dir, artifact_root / "models" / name, sha256=sha256)

    def attempt() -> ModelVersion:
        with write_transaction(engine) as conn:
            version = ModelVersion(
                name=name, version=next_version(conn, name), run_id=run_id, artifact_path=final, sha256=sha256,
                family=family, task=task, features=tuple(features), metrics=plain_metrics,
                baselines_beaten=tuple(baselines_beaten), spec_hash=spec_hash,
                data_fingerprint=data_fingerprint, code_version=code_version, created_at=datetime.now(UTC),
                card_path=final / CARD_FILE, report_path=report_path, aliases=(),
            )
            atomic.write_text(version.card_path, render_card(version, card_context))
            insert_version(conn, version, profile, artifact_root)
            if alias is not None and reason is not None:
                _aliases.move_alias(conn, name, alias, version.version, reason=reason, actor=actor)
                version = dataclasses.replace(version, aliases=(alias,))
        return version

    return retry_on_conflict(attempt)


def next_version(conn: Connection, name: str) -> int:
    query = sa.select(sa.func.coalesce(sa.func.max(model_versions.c.version), 0)).where(model_versions.c.name == name)
    return int(conn.execute(query).scalar_one()) + 1


def insert_version(conn: Connection, version: ModelVersion, profile: dict[str, Any] | None,
                   artifact_root: Path) -> None:
    """Insert the version row (a unique violation means another writer took the number: retried).

    Its paths are stored relative to ``artifact_root``.
    """
    def relative(path: Path, column: str) -> str:
        return relative_inside(artifact_root, path, what=f"the {column} of {version.name} v{version.version}",
                               error=RegistryError, fix="Register the model through Registry.register_model.")

    conn.execute(model_versions.insert().values(
        name=version.name, version=version.version, run_id=version.run_id,
        artifact_path=relative(version.artifact_path, "artifact_path"),
        sha256=version.sha256, family=version.family, task=version.task, features=list(version.features),
        metrics=version.metrics, baselines_beaten=list(version.baselines_beaten), spec_hash=version.spec_hash,
        data_fingerprint=version.data_fingerprint, code_version=version.code_version, profile=profile,
        card_path=relative(version.card_path, "card_path"), report_path=version.report_path,
        created_at=version.created_at,
    ))


def _require_run(conn: Connection, name: str, run_id: str) -> None:
    if conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is None:
        raise RegistryError(
            f"cannot register {name!r}: no run {run_id!r} in the registry. Start one with "
            "Registry.start_run(...) and pass its run_id, so the version keeps its lineage."
        )
