"""Database access: SQLAlchemy 2 async on PostgreSQL (asyncpg) or SQLite (aiosqlite).

Each service owns one schema. On PostgreSQL that is a real schema; on SQLite each schema is a
separate database file ATTACHed under the schema's name, so the same models and queries run on
both without a translate map.
"""

from cc_common.db._database import Database, is_postgres
from cc_common.db._kit_tables import KitTables, kit_tables
from cc_common.db.idempotency import (
    claim_event,
    claim_events,
    dialect_insert,
    prune_processed,
    upsert,
    upsert_many,
    upsert_statement,
)
from cc_common.db.outbox import Outbox, OutboxRelay

__all__ = [
    "Database",
    "KitTables",
    "Outbox",
    "OutboxRelay",
    "claim_event",
    "claim_events",
    "dialect_insert",
    "is_postgres",
    "kit_tables",
    "prune_processed",
    "upsert",
    "upsert_many",
    "upsert_statement",
]
