"""Queues, agents, agent states and booked callbacks."""

import sqlalchemy as sa
from alembic import op

from cc_routing.adapters.db import SCHEMA

revision, down_revision = "routing_0002", "routing_0001"


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(63), primary_key=True)


def upgrade() -> None:
    for table, key in (("queues", "name"), ("agents", "agent_id")):
        op.create_table(
            table,
            _tenant(),
            sa.Column(key, sa.String(200), primary_key=True),
            sa.Column("config", sa.JSON(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            schema=SCHEMA,
        )
    op.create_table(
        "agent_states",
        _tenant(),
        sa.Column("agent_id", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("wrap_until", sa.Float(), nullable=True),
        sa.Column("calls_answered", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "callbacks",
        _tenant(),
        sa.Column("callback_id", sa.String(64), primary_key=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.Float(), nullable=False),
        sa.Column("origin_call_id", sa.String(64), nullable=True),
        sa.Column("skills", sa.String(1000), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("callbacks", "agent_states", "agents", "queues"):
        op.drop_table(table, schema=SCHEMA)
