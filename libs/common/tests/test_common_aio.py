"""The wake-up wait of background loops: set, timed out, and cancelled as it is woken."""

from __future__ import annotations

import asyncio

import pytest

from cc_common.aio import wait_for_wakeup


async def test_a_set_event_wakes_the_waiter_at_once() -> None:
    event = asyncio.Event()
    event.set()
    assert await wait_for_wakeup(event, 10.0)


async def test_the_wait_ends_unwoken_at_the_timeout() -> None:
    assert not await wait_for_wakeup(asyncio.Event(), 0.01)


async def test_a_loop_cancelled_as_it_is_woken_still_stops() -> None:
    """The race ``asyncio.wait_for`` loses on 3.11: the cancel must never be swallowed."""
    wake = asyncio.Event()

    async def background_loop() -> None:
        while True:
            wake.clear()
            await wait_for_wakeup(wake, 5.0)

    for _ in range(50):
        task = asyncio.create_task(background_loop())
        await asyncio.sleep(0)  # the loop is now waiting
        wake.set()  # the wake-up and the cancel land in the same turn of the event loop
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 1.0)
