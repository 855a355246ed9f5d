"""A bridge asked for but not yet confirmed, so a crash in between restores the call correctly."""

import sqlalchemy as sa
from alembic import op

from cc_routing.adapters.db import SCHEMA

revision, down_revision = "routing_0004", "routing_0003"


def upgrade() -> None:
    op.add_column(
        "active_calls",
        sa.Column("bridge_requested_at", sa.Float(), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("active_calls", "bridge_requested_at", schema=SCHEMA)
