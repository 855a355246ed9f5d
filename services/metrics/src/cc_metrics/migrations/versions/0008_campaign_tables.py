"""Outbound facts per dialer campaign: 15-minute and hour tables.

Revision ID: metrics_0008
Revises: metrics_0007
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0008"
down_revision = "metrics_0007"
branch_labels = None
depends_on = None

FACTS = (
    "attempts",
    "live_answers",
    "connected",
    "connect_wait_seconds",
    "abandoned",
    "abandoned_wait_seconds",
    "machine_answers",
    "dispositions",
    "right_party_contacts",
)


def _table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(fact, sa.Float(precision=53), nullable=False) for fact in FACTS),
        sa.PrimaryKeyConstraint("tenant", "campaign", "interval_start"),
        schema="metrics",
    )


def upgrade() -> None:
    _table("campaign_intervals")
    op.create_index(
        "ix_metrics_campaign_intervals_time",
        "campaign_intervals",
        ["tenant", "interval_start"],
        unique=False,
        schema="metrics",
    )
    _table("campaign_hours")


def downgrade() -> None:
    op.drop_table("campaign_hours", schema="metrics")
    op.drop_index(
        "ix_metrics_campaign_intervals_time", table_name="campaign_intervals", schema="metrics"
    )
    op.drop_table("campaign_intervals", schema="metrics")
