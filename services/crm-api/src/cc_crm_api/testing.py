"""Test helpers for the crm-api: a running app with an admin key (used by tests and benches)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from cc_common.bus import Bus
from cc_common.db import Database
from cc_crm_api.settings import CrmApiSettings


@dataclass
class Crm:
    """A running crm-api app, a client holding the bootstrap admin key, and its exchange."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: CrmApiSettings
    admin_token: str
    publisher: Bus
    stack: AsyncExitStack

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    def auth(self, token: str | None = None) -> dict[str, str]:
        """Return the Authorization header for a token (the admin key by default)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    async def key(self, *scopes: str, name: str = "test key", **extra: Any) -> str:
        """Create a key with ``scopes`` and return its token."""
        reply = await self.client.post(
            "/v1/api-keys",
            json={"name": name, "scopes": list(scopes), **extra},
            headers=self.auth(),
        )
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token

    async def stop(self) -> None:
        """End the app's lifespan."""
        await self.stack.aclose()


CrmFactory = Callable[..., Awaitable[Crm]]


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on 127.0.0.1 (a free port); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
        sock.close()


@dataclass
class Received:
    """One request a webhook receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """An HTTP endpoint that records what it is sent and answers with the statuses it is given."""

    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 204

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(headers, b"".join(chunks)))
        status = self.statuses.pop(0) if self.statuses else self.default_status
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
