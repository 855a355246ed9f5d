"""Rate limits shared by every replica: each key's token bucket is a row in PostgreSQL.

One request locks its key's row (an upsert that creates it full the first time and otherwise
changes nothing but takes the row lock), lets the core decide, and writes the bucket back, all
in the transaction that authenticates the key: replicas behind a load balancer spend from one
bucket, and concurrent requests of one key queue on its row rather than each seeing it full.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import dialect_insert
from cc_crm_api.adapters.db import rate_buckets
from cc_crm_api.core.ratelimit import Bucket, RateLimit


async def spend(
    session: AsyncSession, tenant: str, key_id: str, limit: RateLimit, now: float
) -> float:
    """Spend one of ``key_id``'s tokens; return 0, or the seconds until one is due."""
    b = rate_buckets.c
    lock = (
        dialect_insert(session, rate_buckets)
        .values(tenant=tenant, key_id=key_id, tokens=float(limit.burst), at=now)
        .on_conflict_do_update(index_elements=[b.tenant, b.key_id], set_={"tokens": b.tokens})
        .returning(b.tokens, b.at)
    )
    row = (await session.execute(lock)).one()
    after, wait = limit.take(Bucket(row.tokens, row.at), now)  # a new row is a full bucket
    await session.execute(
        update(rate_buckets)
        .where(b.tenant == tenant, b.key_id == key_id)
        .values(tokens=after.tokens, at=after.at)
    )
    return wait
