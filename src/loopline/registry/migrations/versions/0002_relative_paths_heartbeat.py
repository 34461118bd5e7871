"""Artifact paths relative to the artifact root; run heartbeats.

- ``model_versions.artifact_path`` and ``card_path`` become POSIX paths relative to the artifact
  root. The root is known when a :class:`~loopline.registry.Registry` runs the upgrade (it hands
  its workspace's artifact root in as ``config.attributes["artifact_root"]``): absolute paths under
  that root are rewritten; paths elsewhere are left as they are and refused when read. Run by hand
  without a root, the migration rewrites nothing; the registry then still accepts an absolute stored
  path that lies inside the current artifact root.
- ``runs.heartbeat_at`` (the run's last sign of life) and ``runs.heartbeat_timeout_s`` (how long it
  may stay silent before it is reported abandoned). Runs started before have neither and are never
  reported abandoned.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_versions = sa.table(
    "model_versions", sa.column("name", sa.String()), sa.column("version", sa.Integer()),
    sa.column("artifact_path", sa.Text()), sa.column("card_path", sa.Text()),
)


def _artifact_root() -> Path | None:
    root = context.config.attributes.get("artifact_root")
    return None if root is None else Path(root)


def _relative(stored: str, roots: tuple[Path, ...]) -> str:
    path = Path(stored)
    if not path.is_absolute():
        return stored
    for root in roots:
        if path.is_relative_to(root) and path != root:
            return path.relative_to(root).as_posix()
    return stored


def _absolute(stored: str, root: Path) -> str:
    return stored if Path(stored).is_absolute() else str(root.joinpath(*PurePosixPath(stored).parts))


def _rewrite(change: dict[str, str]) -> None:
    """Apply ``change`` (old path -> new path) to both path columns of every version."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(_versions.c.name, _versions.c.version, _versions.c.artifact_path,
                                  _versions.c.card_path)).all()
    for row in rows:
        artifact, card = change.get(row.artifact_path, row.artifact_path), change.get(row.card_path, row.card_path)
        if (artifact, card) != (row.artifact_path, row.card_path):
            conn.execute(_versions.update()
                         .where(_versions.c.name == row.name, _versions.c.version == row.version)
                         .values(artifact_path=artifact, card_path=card))


def _stored_paths() -> list[str]:
    rows = op.get_bind().execute(sa.select(_versions.c.artifact_path, _versions.c.card_path)).all()
    return [path for row in rows for path in (row.artifact_path, row.card_path)]


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("heartbeat_timeout_s", sa.Float(), nullable=True))
    root = _artifact_root()
    if root is not None:
        roots = tuple(dict.fromkeys((root, root.resolve())))
        _rewrite({path: _relative(path, roots) for path in _stored_paths()})


def downgrade() -> None:
    root = _artifact_root()
    if root is not None:
        _rewrite({path: _absolute(path, root) for path in _stored_paths()})
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy and drop 'runs', which the versions' foreign
    # keys forbid while they are enforced.
    op.drop_column("runs", "heartbeat_timeout_s")
    op.drop_column("runs", "heartbeat_at")
