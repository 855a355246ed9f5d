"""The hold and a requested hang-up cause in the call ledger, so a restart keeps both."""

import sqlalchemy as sa
from alembic import op

from cc_routing.adapters.db import SCHEMA

revision, down_revision = "routing_0007", "routing_0006"


def upgrade() -> None:
    op.add_column("active_calls", sa.Column("held_since", sa.Float(), nullable=True), schema=SCHEMA)
    op.add_column(
        "active_calls",
        sa.Column("hold_seconds", sa.Float(), nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.add_column(
        "active_calls", sa.Column("hangup_requested", sa.String(64), nullable=True), schema=SCHEMA
    )


def downgrade() -> None:
    for column in ("hangup_requested", "hold_seconds", "held_since"):
        op.drop_column("active_calls", column, schema=SCHEMA)
