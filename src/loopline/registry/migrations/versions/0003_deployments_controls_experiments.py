"""Deployments with their history, kill switches, and the experiments deployments run.

- ``deployments``: one row per revision of a deployment (its spec as JSON text, who and why); the
  newest revision of a name is the ``active`` one.
- ``controls``: kill switches, append-only; the newest row of a target (a model, one version of a
  model, an experiment or a deployment) is its state.
- ``experiments``: each online experiment a deployment runs, with its arms, the version each arm
  served when it started, its start and its end.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint("name", "revision", name="uq_deployments_name_revision"),
    )
    op.create_table(
        "controls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("killed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_controls"),
    )
    op.create_index("ix_controls_kind_name", "controls", ["kind", "name"])
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("arms", sa.Text(), nullable=False),
        sa.Column("interleave", sa.Boolean(), nullable=False),
        _ts("started_at"),
        _ts("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_experiments"),
    )


def downgrade() -> None:
    op.drop_table("experiments")
    op.drop_index("ix_controls_kind_name", table_name="controls")
    op.drop_table("controls")
    op.drop_table("deployments")
