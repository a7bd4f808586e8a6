"""Jobs carry the pending mark: the epoch a change to the rate takes effect at.

`jobs.pending_epoch` is set when an operator changes what the job's next decision answers (its
schedule, clock, scale, override, pause or cooldown) and cleared by that decision; labels and
status changes leave it. Rows stored before hold null: what was pending then is not known, and
the next decision would clear it anyway.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `jobs.pending_epoch`."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("pending_epoch", sa.Integer, nullable=True))


def downgrade() -> None:
    """Drop the pending mark of jobs."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("pending_epoch")
