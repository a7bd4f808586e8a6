"""Decisions record the rate their training applied, and whether it drifted from the answer.

`decisions.applied_learning_rate` and `decisions.applied_momentum` are what the job's optimizer
held at the end of the decided epoch, as its adapter reported with the next request; `drift`
says whether that differs from the rate in force beyond float32 rounding. Rows stored before
hold nulls: nothing was reported for them.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `decisions.applied_learning_rate`, `applied_momentum` and `drift`."""
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("applied_learning_rate", sa.Double, nullable=True))
        batch.add_column(sa.Column("applied_momentum", sa.Double, nullable=True))
        batch.add_column(sa.Column("drift", sa.Boolean, nullable=True))


def downgrade() -> None:
    """Drop the applied rates and drift of decisions."""
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("drift")
        batch.drop_column("applied_momentum")
        batch.drop_column("applied_learning_rate")
