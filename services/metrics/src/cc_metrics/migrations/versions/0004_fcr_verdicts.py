"""FCR verdicts: handled calls with a first-contact answer (survey or disposition), the
denominator of first-contact resolution, so no answers at all is "no data" and not 0 %.

Revision ID: metrics_0004
Revises: metrics_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "metrics_0004"
down_revision = "metrics_0003"
branch_labels = None
depends_on = None

TABLES = ("queue_intervals", "agent_intervals", "queue_hours", "agent_hours")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema="metrics") as batch:
            batch.add_column(
                sa.Column(
                    "fcr_verdicts", sa.Float(precision=53), nullable=False, server_default="0"
                )
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema="metrics") as batch:
            batch.drop_column("fcr_verdicts")
