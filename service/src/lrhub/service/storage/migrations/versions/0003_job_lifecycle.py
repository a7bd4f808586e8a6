"""Job lifecycle: when a job last reported, its recent epoch intervals, each epoch's end metrics.

Revision ID: 0003
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        jobs.add_column(sa.Column("epoch_intervals", _JSON, nullable=True))
    with op.batch_alter_table("decisions") as decisions:
        decisions.add_column(sa.Column("end_metrics", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as decisions:
        decisions.drop_column("end_metrics")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("epoch_intervals")
        jobs.drop_column("last_seen_at")
