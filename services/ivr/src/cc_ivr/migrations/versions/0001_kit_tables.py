"""The ivr schema's outbox and processed-event tables."""

from cc_common.db.migrations import kit_tables_migration
from cc_ivr.adapters.db import SCHEMA

revision, down_revision = "ivr_0001", None
upgrade, downgrade = kit_tables_migration(SCHEMA)
