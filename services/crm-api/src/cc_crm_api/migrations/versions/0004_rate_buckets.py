"""Rate-limit buckets in the database, so every replica spends from one bucket per API key.

Revision ID: crm_api_0004
Revises: crm_api_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "crm_api_0004"
down_revision = "crm_api_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("tokens", sa.Float(precision=53), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "key_id"),
        schema="crm_api",
    )


def downgrade() -> None:
    op.drop_table("rate_buckets", schema="crm_api")
