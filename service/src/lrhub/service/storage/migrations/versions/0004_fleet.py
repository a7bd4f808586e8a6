"""Fleet: the event stream's sequence, bulk change ids on audit events.

(`jobs.last_seen_at` comes with 0003, the job lifecycle.)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stream positions: NULL until the stream's sequencer numbers the row (see stream/store.py).
    op.add_column("decisions", sa.Column("seq", sa.BigInteger, nullable=True))
    op.create_index("ix_decisions_seq", "decisions", ["seq", "id"])
    op.add_column("events", sa.Column("seq", sa.BigInteger, nullable=True))
    op.create_index("ix_events_seq", "events", ["seq", "id"])
    op.add_column("events", sa.Column("change_id", sa.String(36), nullable=True))
    counter = op.create_table(
        "stream_sequence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("stream_sequence")
    op.drop_column("events", "change_id")
    op.drop_index("ix_events_seq", "events")
    op.drop_column("events", "seq")
    op.drop_index("ix_decisions_seq", "decisions")
    op.drop_column("decisions", "seq")
