"""Index call records by caller number, so a CRM's search by the caller's number stays a lookup.

Revision ID: metrics_0005
Revises: metrics_0004
"""

from alembic import op

revision = "metrics_0005"
down_revision = "metrics_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_metrics_call_records_caller",
        "call_records",
        ["tenant", "caller_number", "first_event_at"],
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_index("ix_metrics_call_records_caller", table_name="call_records", schema="metrics")
