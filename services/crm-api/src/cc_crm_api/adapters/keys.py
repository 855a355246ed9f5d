"""API keys in the database: created, listed, revoked, looked up and marked as used."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import upsert
from cc_crm_api.adapters.db import api_keys, aware
from cc_crm_api.core.keys import ALL_SCOPES, BOOTSTRAP_KEY_ID, KeyRecord, Scope, hash_secret

LAST_USED_RESOLUTION = timedelta(seconds=60)
"""last_used_at is written at most this often per key, so reads do not all become writes."""


def record(row: Any) -> KeyRecord:
    """Return the authentication view of a row."""
    return KeyRecord(
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(Scope(s) for s in row.scopes),
        expires_at=aware(row.expires_at),
        revoked_at=aware(row.revoked_at),
        last_used_at=aware(row.last_used_at),
    )


async def find(session: AsyncSession, tenant: str, key_id: str) -> tuple[KeyRecord, str] | None:
    """Return a key and its stored hash."""
    query = select(api_keys).where(api_keys.c.tenant == tenant, api_keys.c.key_id == key_id)
    row = (await session.execute(query)).first()
    return (record(row), row.secret_hash) if row else None


async def touch(session: AsyncSession, tenant: str, key: KeyRecord, now: datetime) -> None:
    """Record that a key was used, if the stored time is stale."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    await session.execute(
        update(api_keys)
        .where(api_keys.c.tenant == tenant, api_keys.c.key_id == key.key_id)
        .values(last_used_at=now)
    )


async def install_bootstrap(
    session: AsyncSession, tenant: str, secret: str | None, now: datetime
) -> None:
    """Install (or, without a secret, revoke) the operator's admin key."""
    if secret is None:
        await session.execute(
            update(api_keys)
            .where(
                api_keys.c.tenant == tenant,
                api_keys.c.key_id == BOOTSTRAP_KEY_ID,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return
    values = {
        "tenant": tenant,
        "key_id": BOOTSTRAP_KEY_ID,
        "name": "bootstrap (from the CC_CRM_BOOTSTRAP_KEY secret)",
        "scopes": sorted(ALL_SCOPES),
        "secret_hash": hash_secret(secret),
        "created_at": now,
        "expires_at": None,
        "revoked_at": None,
    }
    await upsert(session, api_keys, values, ["tenant", "key_id"])
