"""Jobs keep the cooldown an operator started; decisions the cooldown they were answered under.

`jobs.cooldown` is the decay started on demand (`PATCH /v1/jobs/{id}` with `cooldown`), JSON:
its length, unit, shape and floor, and once a decision started it, the step (or epoch) and rate
it started from; null for none. `decisions.step_cooldown` is that started cooldown as a
decision with per-step rates applied it: with the step rule, what those rates are derived from
again on read. Rows stored before hold null on both, which is what they meant.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `jobs.cooldown` and `decisions.step_cooldown`."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cooldown", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("step_cooldown", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Drop `decisions.step_cooldown` and `jobs.cooldown`."""
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("step_cooldown")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cooldown")
