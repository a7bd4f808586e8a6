"""A job's creator is a token, not a name; a bulk change can carry an idempotency key.

`jobs.creator_token` is the id (the stored secret's sha256) of the API token that created the
job: a creator token reaches only the jobs it created itself, so a new token given a revoked
one's name reaches none of them. Jobs stored before get the id of the token that has their
`created_by` name now (the token that created them, unless it was revoked and its name reused,
which is the case this closes from now on). `changes.idempotency_key` is the client's key of a
bulk change: a retry with the same key resumes that change.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `jobs.creator_token` (filled from `tokens`) and `changes.idempotency_key`."""
    op.add_column("jobs", sa.Column("creator_token", sa.String(64), nullable=True))
    op.execute(
        "UPDATE jobs SET creator_token = "
        "(SELECT tokens.token_hash FROM tokens WHERE tokens.name = jobs.created_by)"
    )
    op.add_column("changes", sa.Column("idempotency_key", sa.String(128), nullable=True))
    op.create_index(
        "ux_changes_idempotency_key",
        "changes",
        ["actor", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ux_changes_idempotency_key", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("idempotency_key")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("creator_token")
