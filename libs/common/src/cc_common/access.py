"""Who may call a service's internal API, and how much they may send.

Internal routes require ``Authorization: Bearer <CC_SERVICE_TOKEN>``, compared in constant time.
A service without a token configured refuses every internal call (it never falls open). Health,
readiness, metrics, the API docs and routers a service declares open (the wallboard) need none.
Request bodies larger than ``CC_HTTP_MAX_BODY_BYTES`` are refused with 413 before they are read.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cc_common.problems import problem_response

SERVICE_TOKEN_SCHEME = "serviceToken"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=SERVICE_TOKEN_SCHEME,
    description="The shared service token (setting CC_SERVICE_TOKEN, or its secrets-dir file).",
)


def _refuse(request: Request, detail: str) -> HTTPException:
    realm = request.app.title
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail,
        headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
    )


async def require_service_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency: let the request through only with the service token as a Bearer credential."""
    expected: bytes | None = request.app.state.service_token
    if expected is None:
        raise _refuse(request, "this service has no CC_SERVICE_TOKEN set; it admits no one")
    if credentials is None:
        raise _refuse(request, "send Authorization: Bearer <service token>")
    if not hmac.compare_digest(credentials.credentials.encode("utf-8", "replace"), expected):
        raise _refuse(request, "the service token is wrong")


def bearer_headers(token: str | None) -> dict[str, str]:
    """Headers a client of another service's internal API sends (none when no token is set)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class _TooLarge(StarletteHTTPException):
    """The body grew past the limit while it was being read (answered 413 by the app)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


class BodyLimit:
    """ASGI middleware: refuse a request body larger than ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        response = problem_response(413, detail, instance=scope.get("path"))
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
