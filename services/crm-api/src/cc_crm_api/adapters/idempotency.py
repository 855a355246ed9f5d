"""Idempotency-Key on POST: a retried request returns the first response and acts once.

The key is scoped to the API key that sent it (its hash, so only its holder can replay) and to
the request (method, path, query and body fingerprint): the same key with another body is a 422.
A request still running answers 409; a 5xx, 401, 403 or 429 is not kept, so a retry runs again.
No database connection free to claim the key is 503 with ``Retry-After`` (the route's own
answer when it finds none), and nothing is claimed.
This is ASGI middleware so every POST gets it, and it also enforces the request body limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cc_common.db import Database, dialect_insert
from cc_common.db.busy import BUSY_ERRORS, is_database_busy
from cc_common.problems import busy_response, problem_response
from cc_crm_api.adapters.db import idempotency
from cc_crm_api.core.keys import hash_secret

NOT_KEPT = {401, 403, 409, 429}


class IdempotencyMiddleware:
    """Replay stored responses for repeated Idempotency-Keys; refuse oversized bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        database: Callable[[], Database],
        tenant: str,
        max_body: int,
        keep: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.app = app
        self._database = database
        self._tenant = tenant
        self._max_body = max_body
        self._keep = keep
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self._max_body:
            await _problem(scope, send, 413, f"request body larger than {self._max_body} bytes")
            return
        key = headers.get("idempotency-key")
        token = headers.get("authorization", "")
        if scope["method"] != "POST" or not key or not token:
            await self.app(scope, receive, send)
            return
        if len(key) > 255:
            await _problem(scope, send, 422, "Idempotency-Key longer than 255 characters")
            return
        body = await _read_body(receive, self._max_body)
        if body is None:
            await _problem(scope, send, 413, f"request body larger than {self._max_body} bytes")
            return
        await self._idempotent(scope, body, hash_secret(token), key, send)

    async def _idempotent(
        self, scope: Scope, body: bytes, caller: str, key: str, send: Send
    ) -> None:
        fingerprint = hashlib.sha256(
            b"\0".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        db = self._database()
        where = (
            idempotency.c.tenant == self._tenant,
            idempotency.c.caller == caller,
            idempotency.c.idempotency_key == key,
        )
        now = self._clock()
        try:
            async with db.session() as session:
                await session.execute(
                    delete(idempotency).where(*where, idempotency.c.created_at < now - self._keep)
                )
                claim = dialect_insert(session, idempotency).values(
                    tenant=self._tenant,
                    caller=caller,
                    idempotency_key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                )
                claimed = (await session.execute(claim.on_conflict_do_nothing())).rowcount  # type: ignore[attr-defined]
                row = (
                    None
                    if claimed
                    else (await session.execute(select(idempotency).where(*where))).one()
                )
        except BUSY_ERRORS as exc:
            if not is_database_busy(exc):
                raise
            # Nothing claimed and nothing run: the retry Retry-After asks for starts afresh.
            await busy_response(scope["path"])(scope, _no_body, send)
            return
        if row is not None:
            await _replay(scope, row, fingerprint, send)
            return
        try:
            captured = await _run(self.app, scope, body, send)
        except BaseException:
            async with db.session() as session:
                await session.execute(delete(idempotency).where(*where))
            raise
        status = captured["status"]
        async with db.session() as session:
            if status >= 500 or status in NOT_KEPT:
                await session.execute(delete(idempotency).where(*where))
            else:
                await session.execute(
                    update(idempotency)
                    .where(*where)
                    .values(
                        status_code=status,
                        content_type=captured["content_type"],
                        body=captured["body"],
                    )
                )


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _run(app: ASGIApp, scope: Scope, body: bytes, send: Send) -> dict[str, Any]:
    """Run the request with its buffered body, passing the response on and keeping a copy."""
    sent = False
    captured: dict[str, Any] = {"status": 500, "content_type": None, "body": b""}
    parts: list[bytes] = []

    async def replay_body() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured["status"] = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    captured["content_type"] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
        await send(message)

    await app(scope, replay_body, keep)
    captured["body"] = b"".join(parts)
    return captured


async def _replay(scope: Scope, row: Any, fingerprint: str, send: Send) -> None:
    if row.fingerprint != fingerprint:
        await _problem(
            scope,
            send,
            422,
            "this Idempotency-Key was used with a different request; use a new key",
        )
        return
    if row.status_code is None:
        await _problem(
            scope, send, 409, "a request with this Idempotency-Key is still being processed"
        )
        return
    headers = [(b"idempotent-replayed", b"true")]
    if row.content_type:
        headers.append((b"content-type", row.content_type.encode("latin-1")))
    headers.append((b"content-length", str(len(row.body or b"")).encode()))
    await send({"type": "http.response.start", "status": row.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": row.body or b""})


async def _problem(scope: Scope, send: Send, status: int, detail: str) -> None:
    """Answer from the middleware, before any route, with the shared problem-detail model."""
    response = problem_response(status, detail, instance=scope["path"])
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
