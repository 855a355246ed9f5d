"""Stream tickets: single-use, short-lived admissions to one event stream, for browsers'
EventSource, which cannot send an Authorization header.

Revision ID: crm_api_0003
Revises: crm_api_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "crm_api_0003"
down_revision = "crm_api_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_tickets",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "ticket_hash"),
        schema="crm_api",
    )
    op.create_index(
        "ix_crm_api_stream_tickets_expiry",
        "stream_tickets",
        ["tenant", "expires_at"],
        schema="crm_api",
    )


def downgrade() -> None:
    op.drop_index("ix_crm_api_stream_tickets_expiry", table_name="stream_tickets", schema="crm_api")
    op.drop_table("stream_tickets", schema="crm_api")
