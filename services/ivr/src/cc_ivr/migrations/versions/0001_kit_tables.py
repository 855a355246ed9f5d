"""The ivr schema's outbox and processed-event tables.

Revision ID: ivr_0001
Revises:
"""

from cc_common.db.migrations import create_kit_tables, drop_kit_tables
from cc_ivr.adapters.db import SCHEMA

revision = "ivr_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables(SCHEMA)


def downgrade() -> None:
    drop_kit_tables(SCHEMA)
