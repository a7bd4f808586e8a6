"""API tokens with roles; jobs remember who created them; stored labels made filterable.

Labels stored before lrhub refused NUL and unpaired surrogates in label text could hold them;
on PostgreSQL one such label made every label filter fail (`->>` cannot turn `\\u0000` into
text). Those characters are replaced by U+FFFD here, so every stored label is filterable.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("created_by", sa.String(300), nullable=True))
    jobs = sa.table("jobs", sa.column("job_id", sa.String), sa.column("labels", sa.JSON))
    connection = op.get_bind()
    for job_id, labels in connection.execute(sa.select(jobs.c.job_id, jobs.c.labels)).all():
        cleaned = {_storable(key): _storable(value) for key, value in labels.items()}
        if cleaned != labels:
            connection.execute(
                sa.update(jobs).where(jobs.c.job_id == job_id).values(labels=cleaned)
            )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("created_by")
    op.drop_table("tokens")
