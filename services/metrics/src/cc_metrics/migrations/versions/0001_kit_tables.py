"""The metrics schema's outbox and processed-event tables."""

from cc_common.db.migrations import kit_tables_migration
from cc_metrics.adapters.db import SCHEMA

revision, down_revision = "metrics_0001", None
upgrade, downgrade = kit_tables_migration(SCHEMA)
