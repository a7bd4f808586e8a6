"""Decisions record the momentum (beta1) their schedule set.

`decisions.momentum` is the momentum of the decided epoch's first step where the spec schedules
one (`one_cycle` and `cyclic` with `cycle_momentum`), else null; rows stored before hold null,
which is what their specs meant (they are read with `cycle_momentum` false).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `decisions.momentum`."""
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("momentum", sa.Double, nullable=True))


def downgrade() -> None:
    """Drop `decisions.momentum`."""
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("momentum")
