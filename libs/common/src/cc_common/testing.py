"""Small helpers for tests of asynchronous, eventually-consistent behaviour (no pytest import)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI


async def eventually(
    condition: Callable[[], bool], *, within: float = 10.0, poll: float = 0.01
) -> None:
    """Return once ``condition()`` holds; raise TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  (the condition has no event to wait on)
            await asyncio.sleep(poll)


@asynccontextmanager
async def serve(
    app: Any, *, port: int = 0, lifespan: Literal["auto", "on", "off"] = "off"
) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on 127.0.0.1 (``port``, or a free one); yield its base
    URL. ``lifespan="on"`` lets the server run the app's lifespan too."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
        sock.close()


TEST_SERVICE_TOKEN = "test-service-token-not-a-secret"
"""The ``CC_SERVICE_TOKEN`` tests give the apps they start."""


def api_client(app: FastAPI, base_url: str = "http://service") -> httpx.AsyncClient:
    """An HTTP client for an in-process app that sends the app's service token."""
    import httpx

    token: bytes | None = app.state.service_token
    headers = {"Authorization": f"Bearer {token.decode()}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers
    )
