"""Alerts: the alerts monitoring fired, kept with their rule's cool-down applied.

- ``alerts``: one row per alert that passed its cool-down (model, version, the rule as JSON and the sha256
  of its canonical JSON, the metric, the severity, the value that fired it, the message and when), indexed
  for the cool-down's lookup of the same rule for the same model. Existing tables are untouched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-16
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("rule_key", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_model_rule_key_fired_at", "alerts", ["model", "rule_key", "fired_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_model_rule_key_fired_at", table_name="alerts")
    op.drop_table("alerts")
