"""asyncio helpers the services share."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_for_wakeup(event: asyncio.Event, within: float | None) -> bool:
    """Wait at most ``within`` seconds (None: forever) for ``event``; return whether it is set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that lands just as the
    event is set (CPython gh-86296), and a background loop waiting on it then never stops.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await event.wait()
    return event.is_set()
