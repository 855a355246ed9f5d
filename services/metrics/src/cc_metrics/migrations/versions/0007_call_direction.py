"""Call records say the call's direction: ``outbound`` for an agent's click-to-call.

Revision ID: metrics_0007
Revises: metrics_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0007"
down_revision = "metrics_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "call_records",
        sa.Column("direction", sa.String(16), nullable=False, server_default="inbound"),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_column("call_records", "direction", schema="metrics")
