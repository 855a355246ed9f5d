"""Small helpers for tests of asynchronous, eventually-consistent behaviour (no pytest import)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(
    condition: Callable[[], bool], *, within: float = 10.0, poll: float = 0.01
) -> None:
    """Return once ``condition()`` holds; raise TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  (the condition has no event to wait on)
            await asyncio.sleep(poll)
