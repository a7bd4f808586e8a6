"""Rollouts: a change tried on a canary cohort, judged, then promoted or reverted.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `rollouts` and `rollout_events`."""
    json = sa.JSON(none_as_null=True)
    op.create_table(
        "rollouts",
        sa.Column("rollout_id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("selector", sa.Text, nullable=False),
        sa.Column("change", json, nullable=False),
        sa.Column("canary_request", json, nullable=False),
        sa.Column("seed", sa.String(128), nullable=False),
        sa.Column("analysis", json, nullable=False),
        sa.Column("promote", sa.String(16), nullable=False),
        sa.Column("revert", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("change_id", sa.String(36), nullable=False),
        sa.Column("canary", json, nullable=False),
        sa.Column("control", json, nullable=False),
        sa.Column("baselines", json, nullable=False),
        sa.Column("restore", json, nullable=False),
        sa.Column("verdict", json, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("judged_by", sa.String(300), nullable=True),
    )
    op.create_index("ix_rollouts_state", "rollouts", ["state", "rollout_id"])
    op.create_table(
        "rollout_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "rollout_id",
            sa.String(36),
            sa.ForeignKey("rollouts.rollout_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", json, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_rollout_events_seq", "rollout_events", ["seq", "id"])


def downgrade() -> None:
    """Drop `rollout_events` and `rollouts`."""
    op.drop_index("ix_rollout_events_seq", table_name="rollout_events")
    op.drop_table("rollout_events")
    op.drop_index("ix_rollouts_state", table_name="rollouts")
    op.drop_table("rollouts")
