"""The crm-api schema's outbox and processed-event tables.

Revision ID: crm_api_0001
Revises:
"""

from cc_common.db.migrations import create_kit_tables, drop_kit_tables
from cc_crm_api.adapters.db import SCHEMA

revision = "crm_api_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables(SCHEMA)


def downgrade() -> None:
    drop_kit_tables(SCHEMA)
