"""What the routes need from the running app, and authentication by scoped API key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database
from cc_crm_api.adapters import keys as key_store
from cc_crm_api.adapters import ratelimit, tickets
from cc_crm_api.adapters.sealing import SecretBox
from cc_crm_api.adapters.upstream import Upstream
from cc_crm_api.core.keys import KeyRecord, Scope, allows, parse_token, refusal, secret_matches
from cc_crm_api.core.ratelimit import RateLimit
from cc_crm_api.settings import CrmApiSettings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the wall clock in UTC."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The service's long-lived objects, built by ``create_app``."""

    settings: CrmApiSettings
    limit: RateLimit
    routing: Upstream
    metrics: Upstream
    recording: Upstream
    box: SecretBox
    """Seals webhook signing secrets before they are stored."""
    clock: Clock = utc_now
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        """Return the tenant this process serves."""
        return self.settings.tenant


def get_runtime(request: Request) -> Runtime:
    """Dependency: the app's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_db(request: Request) -> Database:
    """Dependency: the app's database."""
    db: Database = request.app.state.db
    return db


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DbDep = Annotated[Database, Depends(get_db)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer cck_<id>_<secret>`.",
)

UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


async def authenticate(
    runtime: Runtime,
    db: Database,
    credentials: HTTPAuthorizationCredentials | None,
) -> KeyRecord:
    """Return the key presented, or raise 401; rate-limit it (429 with Retry-After)."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required: Authorization: Bearer <key>",
            headers=UNAUTHENTICATED,
        )
    key_id, secret = parse_token(credentials.credentials)
    now = runtime.clock()
    async with db.session() as session:
        found = await key_store.find(session, runtime.tenant, key_id)
        key = found[0] if found and secret_matches(secret, found[1]) else None
        why = refusal(key, now)
        if why is not None or key is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, why, headers=UNAUTHENTICATED)
        await key_store.touch(session, runtime.tenant, key, now)
        wait = await _spend(runtime, session, key, now)
    _limit(runtime, wait)
    return key


async def _spend(runtime: Runtime, session: AsyncSession, key: KeyRecord, now: datetime) -> float:
    """Spend one of the key's tokens from the bucket every replica shares."""
    return await ratelimit.spend(
        session, runtime.tenant, key.key_id, runtime.limit, now.timestamp()
    )


def _limit(runtime: Runtime, wait: float) -> None:
    """Raise 429 with Retry-After when the key is over its rate."""
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {runtime.settings.crm_rate_limit_per_second:g}/s for this key exceeded",
            headers={"Retry-After": RateLimit.retry_after(wait)},
        )


def require(scope: Scope) -> Callable[..., Awaitable[KeyRecord]]:
    """Dependency factory: an authenticated key that holds ``scope`` (else 401/403)."""

    async def dependency(
        runtime: RuntimeDep,
        db: DbDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> KeyRecord:
        key = await authenticate(runtime, db, credentials)
        if not allows(key, scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this API key lacks the {scope.value!r} scope (it has: "
                f"{', '.join(sorted(key.scopes)) or 'none'})",
            )
        return key

    return dependency


Reader = Annotated[KeyRecord, Depends(require(Scope.READ))]
Writer = Annotated[KeyRecord, Depends(require(Scope.WRITE))]
Admin = Annotated[KeyRecord, Depends(require(Scope.ADMIN))]


Ticket = Annotated[
    str | None,
    Query(
        max_length=100,
        description="A stream ticket (`POST /v1/events/tickets`) instead of the Authorization "
        "header, for browsers' EventSource: single use, short-lived, for this stream only.",
    ),
]
BAD_TICKET = "the stream ticket is unknown, used, expired or for another stream"


async def stream_reader(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ticket: Ticket = None,
) -> KeyRecord:
    """Dependency of the SSE streams: a read key in the header, or a ticket for this path."""
    if (credentials is not None and credentials.credentials) or not ticket:
        return await require(Scope.READ)(runtime, db, credentials)
    now = runtime.clock()
    async with db.session() as session:
        redeemed = await tickets.redeem(session, runtime.tenant, ticket, request.scope["path"], now)
        found = await key_store.find(session, runtime.tenant, redeemed.key_id) if redeemed else None
        key = found[0] if found else None
        why = refusal(key, now) if redeemed else BAD_TICKET
        wait = await _spend(runtime, session, key, now) if why is None and key else 0.0
    if why is not None or key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, why, headers=UNAUTHENTICATED)
    if not allows(key, Scope.READ):  # the key lost its scope since
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API key lacks the 'read' scope")
    _limit(runtime, wait)
    return key


StreamReader = Annotated[KeyRecord, Depends(stream_reader)]
