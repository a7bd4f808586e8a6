"""Initial schema: schedules, versions, jobs, decisions, audit events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "schedule_versions",
        sa.Column(
            "name",
            sa.String(128),
            sa.ForeignKey("schedules.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(253), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("schedule_name", sa.String(128), nullable=True),
        sa.Column("schedule_version", sa.Integer, nullable=True),
        sa.Column("follow", sa.String(16), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("scale", sa.Double, nullable=False),
        sa.Column("override", sa.Double, nullable=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("held_rate", sa.Double, nullable=True),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("clock_origin", sa.Integer, nullable=False),
        sa.Column("last_epoch", sa.Integer, nullable=True),
        sa.Column("learning_rate", sa.Double, nullable=True),
        sa.Column("state", _JSON, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(253),
            sa.ForeignKey("jobs.job_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("metrics", _JSON, nullable=True),
        sa.Column("steps_per_epoch", sa.Integer, nullable=True),
        sa.Column("learning_rate", sa.Double, nullable=False),
        sa.Column("step_learning_rates", _JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("stop", sa.Boolean, nullable=False),
        sa.Column("schedule_name", sa.String(128), nullable=True),
        sa.Column("schedule_version", sa.Integer, nullable=True),
        sa.Column("spec_key", sa.String(64), nullable=False),
        sa.Column("clock_origin", sa.Integer, nullable=False),
        sa.Column("state_before", _JSON, nullable=True),
        sa.Column("state_after", _JSON, nullable=False),
        sa.Column("gap", sa.Integer, nullable=False),
        sa.Column("rewound", sa.Boolean, nullable=False),
        sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("decided_at", _TS, nullable=False),
    )
    op.create_index("ix_decisions_job_epoch", "decisions", ["job_id", "superseded", "epoch"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(253),
            sa.ForeignKey("jobs.job_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("before", _JSON, nullable=True),
        sa.Column("after", _JSON, nullable=False),
    )
    op.create_index("ix_events_job_id", "events", ["job_id", "id"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("decisions")
    op.drop_table("jobs")
    op.drop_table("schedule_versions")
    op.drop_table("schedules")
