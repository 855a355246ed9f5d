"""Keep each call's QA score per evaluation, so a resolved dispute replaces the first score.

Revision ID: metrics_0006
Revises: metrics_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0006"
down_revision = "metrics_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "call_records",
        sa.Column("qa_scores", sa.JSON(), nullable=False, server_default="{}"),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_column("call_records", "qa_scores", schema="metrics")
