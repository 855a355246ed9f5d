"""Stream tickets: how a browser's EventSource, which cannot send headers, opens a stream.

The page's back end (holding the API key) asks for a ticket for one stream path; the browser
puts it in the URL as ``?ticket=``. A ticket opens that one stream, once, within its lifetime,
and only while the key that asked for it is still valid: a leaked URL is worth one connection
for a minute, and the API key itself never appears in a URL. Only the ticket's SHA-256 is
stored, and redeeming deletes the row in the same statement, so two replicas cannot both
accept it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from cc_crm_api.adapters.db import aware, stream_tickets
from cc_crm_api.core.keys import hash_secret

PREFIX = "cct_"


@dataclass(frozen=True, slots=True)
class Redeemed:
    """Who a redeemed ticket was issued to."""

    key_id: str


async def issue(
    session: AsyncSession, tenant: str, key_id: str, path: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    """Store a new ticket for ``path``; return it (shown once) and when it expires."""
    ticket = PREFIX + secrets.token_urlsafe(32)
    expires_at = now + ttl
    await session.execute(
        delete(stream_tickets).where(
            stream_tickets.c.tenant == tenant, stream_tickets.c.expires_at < now
        )
    )
    await session.execute(
        insert(stream_tickets).values(
            tenant=tenant,
            ticket_hash=hash_secret(ticket),
            key_id=key_id,
            path=path,
            expires_at=expires_at,
        )
    )
    return ticket, expires_at


async def redeem(
    session: AsyncSession, tenant: str, ticket: str, path: str, now: datetime
) -> Redeemed | None:
    """Use up a ticket for ``path``; None if it is unknown, used, expired or for another path."""
    t = stream_tickets.c
    row = (
        await session.execute(
            delete(stream_tickets)
            .where(t.tenant == tenant, t.ticket_hash == hash_secret(ticket))
            .returning(t.key_id, t.path, t.expires_at)
        )
    ).first()
    if row is None or row.path != path:
        return None
    expires_at = aware(row.expires_at)
    if expires_at is None or expires_at <= now:
        return None
    return Redeemed(row.key_id)
