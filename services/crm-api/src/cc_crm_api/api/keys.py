"""``/v1/api-keys``: scoped, named, expiring, revocable keys; the secret is shown once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from cc_crm_api.adapters.db import api_keys
from cc_crm_api.adapters.keys import record
from cc_crm_api.api.deps import Admin, DbDep, RuntimeDep
from cc_crm_api.api.docs import IdempotencyKey, errors, example
from cc_crm_api.core.keys import Scope, new_key

router = APIRouter(prefix="/v1/api-keys", tags=["API keys"])

KeyId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=40,
        description="The key's public id.",
        examples=["3f9a1c2b4d5e6f70"],
    ),
]


class ApiKeyIn(BaseModel):
    """A key to create."""

    name: str = Field(min_length=1, max_length=200, description="What the key is for.")
    scopes: list[Scope] = Field(min_length=1, description="What it may do.")
    expires_at: datetime | None = Field(
        default=None, description="When it stops working (with offset); never if omitted."
    )


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret."""

    key_id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new key, with the secret token shown this one time."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`; not shown again.")


_KEY = {
    "key_id": "3f9a1c2b4d5e6f70",
    "name": "Salesforce integration",
    "scopes": ["read", "write"],
    "created_at": "2025-03-01T09:00:00Z",
    "expires_at": "2026-03-01T00:00:00Z",
    "revoked_at": None,
    "last_used_at": "2025-03-02T10:15:00Z",
}
example(
    ApiKeyIn,
    {
        "name": "Salesforce integration",
        "scopes": ["read", "write"],
        "expires_at": "2026-03-01T00:00:00Z",
    },
)
example(ApiKeyOut, _KEY)
example(ApiKeyCreated, {**_KEY, "last_used_at": None, "token": "cck_3f9a1c2b4d5e6f70_Zm9vYmFy..."})


def _out(row: object) -> ApiKeyOut:
    key = record(row)
    return ApiKeyOut(
        key_id=key.key_id,
        name=key.name,
        scopes=sorted(key.scopes),
        created_at=row.created_at,  # type: ignore[attr-defined]
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated, responses=errors()
)
async def create_key(
    body: ApiKeyIn, runtime: RuntimeDep, db: DbDep, _: Admin, idempotency_key: IdempotencyKey = None
) -> ApiKeyCreated:
    """Create a key; its token is in this response only (only its hash is stored)."""
    now = runtime.clock()
    if body.expires_at is not None and (body.expires_at.tzinfo is None or body.expires_at <= now):
        raise HTTPException(422, "expires_at must be in the future and carry a UTC offset")
    made = new_key()
    row = {
        "tenant": runtime.tenant,
        "key_id": made.key_id,
        "name": body.name,
        "scopes": sorted({s.value for s in body.scopes}),
        "secret_hash": made.secret_hash,
        "created_at": now,
        "expires_at": body.expires_at,
    }
    async with db.session() as session:
        await session.execute(api_keys.insert().values(row))
    return ApiKeyCreated(
        key_id=made.key_id,
        name=body.name,
        scopes=sorted(set(body.scopes)),
        created_at=now,
        expires_at=body.expires_at,
        revoked_at=None,
        last_used_at=None,
        token=made.token,
    )


@router.get("", response_model=list[ApiKeyOut], responses=errors())
async def list_keys(runtime: RuntimeDep, db: DbDep, _: Admin) -> list[ApiKeyOut]:
    """Every key of the tenant, revoked ones included, newest first."""
    query = select(api_keys).where(api_keys.c.tenant == runtime.tenant)
    async with db.session() as session:
        rows = (await session.execute(query.order_by(api_keys.c.created_at.desc()))).all()
    return [_out(row) for row in rows]


@router.get("/{key_id}", response_model=ApiKeyOut, responses=errors(404))
async def get_key(key_id: KeyId, runtime: RuntimeDep, db: DbDep, _: Admin) -> ApiKeyOut:
    """One key, with when it was last used."""
    query = select(api_keys).where(api_keys.c.tenant == runtime.tenant, api_keys.c.key_id == key_id)
    async with db.session() as session:
        row = (await session.execute(query)).first()
    if row is None:
        raise HTTPException(404, f"no API key {key_id!r}")
    return _out(row)


@router.delete("/{key_id}", response_model=ApiKeyOut, responses=errors(404))
async def revoke_key(key_id: KeyId, runtime: RuntimeDep, db: DbDep, _: Admin) -> ApiKeyOut:
    """Revoke a key at once; it stays listed with its revocation time."""
    where = (api_keys.c.tenant == runtime.tenant, api_keys.c.key_id == key_id)
    async with db.session() as session:
        await session.execute(
            update(api_keys)
            .where(*where, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=runtime.clock())
        )
        row = (await session.execute(select(api_keys).where(*where))).first()
    if row is None:
        raise HTTPException(404, f"no API key {key_id!r}")
    return _out(row)
