"""Tables every service schema has: the outbox and the processed-event ledger."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
)


@dataclass(frozen=True, slots=True)
class KitTables:
    """The kit's tables in one service's schema."""

    outbox: Table
    processed_events: Table


def kit_tables(metadata: MetaData, schema: str) -> KitTables:
    """Define the outbox and processed-event tables in ``schema`` on the service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        # BigInteger on PostgreSQL, INTEGER PRIMARY KEY (rowid, autoincrement) on SQLite.
        Column(
            "seq",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("routing_key", String(255), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    Index(
        f"ix_{schema}_outbox_unpublished",
        outbox.c.seq,
        postgresql_where=outbox.c.published_at.is_(None),
    )
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, index=True),
        schema=schema,
    )
    return KitTables(outbox=outbox, processed_events=processed)
