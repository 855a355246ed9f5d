"""Keep each agent's part of a call (talk, hold, wrap-up), so a transfer credits every agent.

Revision ID: metrics_0009
Revises: metrics_0008
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0009"
down_revision = "metrics_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "call_records",
        sa.Column("agent_parts", sa.JSON(), nullable=False, server_default="{}"),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_column("call_records", "agent_parts", schema="metrics")
