"""Small helpers for tests of asynchronous, eventually-consistent behaviour (no pytest import)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

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
