"""Call detail records: filtered listing with keyset (cursor) pagination, oldest first.

The cursor is the last row's (first event time, call id), so a page costs the same wherever it
is in ten million rows and rows written meanwhile never shift the pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cc_metrics.adapters.db import call_records
from cc_metrics.adapters.store import record_from_row, utc
from cc_metrics.core.records import CallRecord


class BadCursor(ValueError):
    """The cursor was not one this service handed out."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: after this (first event time, call id)."""

    at: datetime
    call_id: str

    def encode(self) -> str:
        """Return the opaque text form handed to clients."""
        raw = json.dumps([self.at.isoformat(), self.call_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor or raise :class:`BadCursor`."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            at, call_id = json.loads(raw)
            moment = datetime.fromisoformat(at)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise BadCursor("cursor is not valid; use next_cursor from the previous page") from None
        if moment.tzinfo is None or not isinstance(call_id, str):
            raise BadCursor("cursor is not valid; use next_cursor from the previous page")
        return cls(moment, call_id)


@dataclass(frozen=True, slots=True)
class CdrFilter:
    """Which records a listing returns."""

    start: datetime
    end: datetime
    queue: str | None = None
    agent_id: str | None = None
    outcome: str | None = None
    customer_id: str | None = None
    caller_number: str | None = None
    limit: int = 100
    after: Cursor | None = None


async def list_records(
    session: AsyncSession, tenant: str, f: CdrFilter
) -> tuple[list[CallRecord], Cursor | None]:
    """Return one page of records (first event in the range) and the cursor of the next page."""
    c = call_records.c
    query = select(call_records).where(
        c.tenant == tenant, c.first_event_at >= utc(f.start), c.first_event_at < utc(f.end)
    )
    if f.queue is not None:
        query = query.where(or_(c.queue == f.queue, c.final_queue == f.queue))
    for column, value in ((c.agent_id, f.agent_id), (c.outcome, f.outcome)):
        if value is not None:
            query = query.where(column == value)
    if f.customer_id is not None:
        query = query.where(c.customer_id == f.customer_id)
    if f.caller_number is not None:
        query = query.where(c.caller_number == f.caller_number)
    if f.after is not None:
        at = utc(f.after.at)
        query = query.where(
            or_(c.first_event_at > at, and_(c.first_event_at == at, c.call_id > f.after.call_id))
        )
    query = query.order_by(c.first_event_at, c.call_id).limit(f.limit + 1)
    rows = [record_from_row(row._mapping) for row in await session.execute(query)]
    page = rows[: f.limit]
    more = len(rows) > f.limit
    return page, Cursor(page[-1].first_event_at, page[-1].call_id) if more else None


async def get_record(session: AsyncSession, tenant: str, call_id: str) -> CallRecord | None:
    """Return one call's record."""
    query = select(call_records).where(
        call_records.c.tenant == tenant, call_records.c.call_id == call_id
    )
    row = (await session.execute(query)).first()
    return record_from_row(row._mapping) if row else None
