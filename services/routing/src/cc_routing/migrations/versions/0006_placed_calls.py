"""Click-to-call in the call ledger, so a restart settles or adopts a call an agent placed."""

import sqlalchemy as sa
from alembic import op

from cc_routing.adapters.db import SCHEMA

revision, down_revision = "routing_0006", "routing_0005"


def upgrade() -> None:
    op.add_column(
        "active_calls", sa.Column("placed_number", sa.String(64), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "active_calls", sa.Column("customer_id", sa.String(200), nullable=True), schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_column("active_calls", "customer_id", schema=SCHEMA)
    op.drop_column("active_calls", "placed_number", schema=SCHEMA)
