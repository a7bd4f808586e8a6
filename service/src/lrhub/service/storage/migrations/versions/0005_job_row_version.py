"""Jobs get a row version: decisions compare-and-set on it instead of holding a row lock.

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `jobs.row_version`, 0 for every existing job."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("row_version", sa.Integer, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    """Drop `jobs.row_version`."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("row_version")
