"""Per-step rates are derived on read instead of stored: the spec texts they come from, and the
operator's step rule per decision.

A decision with `steps_per_epoch` now stores the rule its per-step rates were made with
(`step_scale`, `step_fixed`) and leaves `step_learning_rates` empty; its spec text is kept once
in `spec_texts` under its `spec_key`. Rows written before keep their stored lists.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `spec_texts` and the decisions' step rule."""
    op.create_table(
        "spec_texts",
        sa.Column("spec_key", sa.String(64), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
    )
    op.add_column("decisions", sa.Column("step_scale", sa.Double, nullable=True))
    op.add_column("decisions", sa.Column("step_fixed", sa.Double, nullable=True))


def downgrade() -> None:
    """Drop them (decisions stored since then lose their per-step rates)."""
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("step_fixed")
        batch.drop_column("step_scale")
    op.drop_table("spec_texts")
