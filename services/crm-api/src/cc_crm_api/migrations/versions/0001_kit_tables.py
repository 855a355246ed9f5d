"""The crm_api schema's outbox and processed-event tables."""

from cc_common.db.migrations import kit_tables_migration
from cc_crm_api.adapters.db import SCHEMA

revision, down_revision = "crm_api_0001", None
upgrade, downgrade = kit_tables_migration(SCHEMA)
