"""Loop steps: the continual-learning loop's history, every step with its reason.

- ``loop_steps``: one row per step the loop took (retrain, judge, shadow, canary, A/B, promote, roll back,
  ...): the model, the deployment and the version concerned when there are ones, the stage and its status,
  the reason, details as JSON, who and when; indexed for reading one model's history in time order.
  Existing tables are untouched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loop_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loop_steps"),
    )
    op.create_index("ix_loop_steps_model_at", "loop_steps", ["model", "at"])


def downgrade() -> None:
    op.drop_index("ix_loop_steps_model_at", table_name="loop_steps")
    op.drop_table("loop_steps")
