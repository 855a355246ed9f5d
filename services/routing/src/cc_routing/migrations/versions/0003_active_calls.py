"""Calls in progress, so a restarted instance can end the ones that finished while it was down."""

import sqlalchemy as sa
from alembic import op

from cc_routing.adapters.db import SCHEMA

revision, down_revision = "routing_0003", "routing_0002"


def upgrade() -> None:
    op.create_table(
        "active_calls",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.Float(), nullable=False),
        sa.Column("caller_number", sa.String(64), nullable=True),
        sa.Column("agent_id", sa.String(200), nullable=True),
        sa.Column("agent_leg", sa.String(64), nullable=True),
        sa.Column("answered_at", sa.Float(), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("active_calls", schema=SCHEMA)
