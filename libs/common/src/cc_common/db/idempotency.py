"""Idempotent consumers: record each processed event id in the same transaction as its effects.

RabbitMQ delivers at least once. A handler that claims the event id first and finds it already
claimed skips the work, so a redelivery after a crash between commit and ack changes nothing.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, table: Table) -> Any:
    """Return an INSERT with ``on_conflict_*`` for the session's database (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


async def claim_events(
    session: AsyncSession,
    *,
    table: Table,
    consumer: str,
    event_ids: Sequence[uuid.UUID],
    now: datetime | None = None,
) -> set[uuid.UUID]:
    """Return the ids this consumer has not processed before, marking them processed.

    One statement for the whole batch: a consumer that commits in batches claims them together.
    """
    if not event_ids:
        return set()
    at = now or datetime.now(UTC)
    statement = dialect_insert(session, table).on_conflict_do_nothing().returning(table.c.event_id)
    rows = [{"consumer": consumer, "event_id": i, "processed_at": at} for i in event_ids]
    result = await session.execute(statement, rows)
    return {row[0] for row in result}


async def claim_event(
    session: AsyncSession,
    *,
    table: Table,
    consumer: str,
    event_id: uuid.UUID,
    now: datetime | None = None,
) -> bool:
    """Return True if this consumer has not processed the event before (and mark it processed)."""
    claimed = await claim_events(
        session, table=table, consumer=consumer, event_ids=[event_id], now=now
    )
    return event_id in claimed


async def upsert(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]
) -> None:
    """Insert one row, or update its non-key columns when the key exists (PostgreSQL or SQLite)."""
    statement = dialect_insert(session, table).values(values)
    update = {k: statement.excluded[k] for k in values if k not in set(keys)}
    await session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=update))


async def upsert_many(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Upsert rows (all with the same columns) with one statement built and compiled once.

    A hot path (a service writing state per event) pays for statement construction and
    compilation on every ``insert().values(...)``; the same statement object is cached by
    SQLAlchemy after its first use, and a list of rows goes out as one executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = upsert_statement(dialect, table, tuple(rows[0]), tuple(keys))
    await session.execute(statement, list(rows))


@functools.cache
def upsert_statement(
    dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]
) -> Any:
    """Return the upsert of ``columns`` keyed on ``keys``, built once per dialect and shape."""
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    update = {k: insert.excluded[k] for k in columns if k not in keys}
    return insert.on_conflict_do_update(index_elements=list(keys), set_=update)


async def prune_processed(
    session: AsyncSession, *, table: Table, older_than: timedelta, now: datetime
) -> int:
    """Forget processed ids older than the redelivery horizon; return how many went."""
    result = await session.execute(delete(table).where(table.c.processed_at < now - older_than))
    return int(getattr(result, "rowcount", 0) or 0)
