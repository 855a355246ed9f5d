"""Routing decides FreeSWITCH's events one after another but writes them apart from deciding.

While the database cannot take routing's writes (another transaction holds the outbox), the
next caller is still decided (the event path does not wait for the previous step's commit),
yet nothing decided is done on the switch: an agent is rung only once the step that offered
the call is committed. Runs on the simulator, and on a real FreeSWITCH of the test's own when
CC_TEST_FREESWITCH is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from cc_common.bus import Bus
from cc_common.testing import eventually
from services.routing.tests.test_routing_service import (
    ANSWERS,
    Switch,
    configure,
    login,
    routed,
    switch,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["switch"]  # the fixture this module uses from the service test


async def test_callers_are_decided_while_a_write_waits_and_rung_only_once_committed(
    switch: Switch, pg_url: str, make_rabbit_bus: Callable[..., Any]
) -> None:
    bus: Bus = await make_rabbit_bus()
    async with AsyncExitStack() as stack:
        _, callers, service, client = await routed(stack, switch, pg_url, bus)
        acd = service.runtime.acd
        await configure(client, {"answers": ANSWERS})
        await login(client, "answers")

        dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
        blocker = await asyncpg.connect(dsn)
        stack.push_async_callback(blocker.close)
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("LOCK TABLE routing.outbox IN EXCLUSIVE MODE")

        first = await callers.place("first")
        second = await callers.place("second")
        # Both decided although the first one's write is still waiting for the lock.
        await eventually(lambda: acd.holds_call(first) and acd.holds_call(second), within=15)
        [offer] = [leg.offer_id for leg in acd.agent_legs()]
        await asyncio.sleep(1.0)  # time enough for an originate that was sent to show
        assert offer not in await callers.channels(), "rung before the offer was committed"

        await holding.rollback()
        # Committed now: the agent is rung, answers and is bridged (a real switch's loopback
        # leg may bow out of the bridge, so the leg itself is not looked for).
        await eventually(lambda: acd.agent_view("answers").state == "on_call", within=20)
        rows = await blocker.fetch("SELECT routing_key FROM routing.outbox ORDER BY seq")
        assert [r["routing_key"] for r in rows].count("link.call.offered") == 2
