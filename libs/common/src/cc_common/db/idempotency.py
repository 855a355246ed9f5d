"""Idempotent consumers: record each processed event id in the same transaction as its effects.

RabbitMQ delivers at least once. A handler that claims the event id first and finds it already
claimed skips the work, so a redelivery after a crash between commit and ack changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def claim_event(
    session: AsyncSession,
    *,
    table: Table,
    consumer: str,
    event_id: uuid.UUID,
    now: datetime | None = None,
) -> bool:
    """Return True if this consumer has not processed the event before (and mark it processed)."""
    values = {"consumer": consumer, "event_id": event_id, "processed_at": now or datetime.now(UTC)}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(values).on_conflict_do_nothing().returning(table.c.event_id)
    result = await session.execute(statement)
    return result.first() is not None


async def prune_processed(
    session: AsyncSession, *, table: Table, older_than: timedelta, now: datetime
) -> int:
    """Forget processed ids older than the redelivery horizon; return how many went."""
    result = await session.execute(delete(table).where(table.c.processed_at < now - older_than))
    return int(getattr(result, "rowcount", 0) or 0)
