"""Webhooks: subscriptions, the outbox of messages and the log of delivery attempts.

`webhooks` holds each subscription with its signing secret encrypted; `webhook_messages` one row
per event and webhook, written in the transaction of the event, claimed by one deliverer at a
time (`lease_until`, `claimed_by`); `webhook_attempts` every attempt's outcome;
`webhook_stale_notices` the stale spells of jobs a `job.stale` event was raised for.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `webhooks`, `webhook_messages`, `webhook_attempts`, `webhook_stale_notices`."""
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(40), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("selector", sa.Text, nullable=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text, nullable=True),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), nullable=False, unique=True),
        sa.Column(
            "webhook_id",
            sa.String(40),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_webhook_messages_due", "webhook_messages", ["state", "next_attempt_at"])
    op.create_index("ix_webhook_messages_webhook", "webhook_messages", ["webhook_id", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column(
            "message_id",
            sa.String(40),
            sa.ForeignKey("webhook_messages.message_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "webhook_stale_notices",
        sa.Column(
            "job_id",
            sa.String(253),
            sa.ForeignKey("jobs.job_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("since", sa.DateTime(timezone=True), primary_key=True),
    )


def downgrade() -> None:
    """Drop the webhooks tables."""
    op.drop_table("webhook_stale_notices")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_messages")
    op.drop_table("webhooks")
