"""Changes are records, and decisions count their plateau reductions.

`changes` holds one row per change of one or many jobs (who, when, the job or selector, the
body, its state); `change_jobs` what it did to each job (the fields before and after, the
outcome), written in the same transaction as that job's change. `decisions.reductions` is how
many plateau reductions a decision made; rows stored before get 1 where their reason is the
engine's note for a reduction ("<metric> did not improve for N epochs", not followed by "rate is
at min_lr"), else 0.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `changes`, `change_jobs` and `decisions.reductions`."""
    op.create_table(
        "changes",
        sa.Column("change_id", sa.String(36), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("job_id", sa.String(253), nullable=True),
        sa.Column("selector", sa.Text, nullable=True),
        sa.Column("body", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
    )
    op.create_table(
        "change_jobs",
        sa.Column(
            "change_id",
            sa.String(36),
            sa.ForeignKey("changes.change_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("job_id", sa.String(253), primary_key=True),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(
            sa.Column("reductions", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
    op.execute(
        "UPDATE decisions SET reductions = 1 WHERE reason LIKE '%did not improve for %' "
        "AND reason NOT LIKE '%rate is at min_lr%'"
    )


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("reductions")
    op.drop_table("change_jobs")
    op.drop_table("changes")
