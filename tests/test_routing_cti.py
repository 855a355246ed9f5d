"""CTI control through routing's API, on the simulator and (CC_TEST_FREESWITCH) the real switch.

A CRM's command reaches FreeSWITCH only through routing (bgapi on routing's connection); what
happens next is learnt from the switch's own events, exactly as for a caller's own action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cc_common.bus import Bus
from cc_common.testing import eventually
from cc_routing.testing import (
    AGENT_AT_ONCE,
    Published,
    call_in,
    configure,
    routing,
    routing_settings,
    watch,
)
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration


@pytest.fixture
async def setup(
    switch: SwitchUnderTest,
    pg_url: str,
    amqp_url: str,
    make_rabbit_bus: Callable[..., Any],
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> tuple[SwitchUnderTest, Any, Published]:
    """The switch, routing's settings for it, and everything routing publishes."""
    observer: Bus = await make_rabbit_bus()
    exchange = observer._exchange_name  # type: ignore[attr-defined]
    published = Published()
    tenant = unique_name("t")[:40]
    queue = rabbit_cleanup.queue(unique_name("published"))
    await observer.consume(queue, bindings=[f"{tenant}.#"], handler=published, concurrency=1)
    settings = routing_settings(
        switch.endpoint, tenant=tenant, pg_url=pg_url, amqp_url=amqp_url, exchange=exchange
    )
    return switch, settings, published


async def test_hanging_up_an_answered_call_ends_it_and_frees_the_agent_into_wrap_up(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE}, wrap_up=60)
        missing = await instance.api.post("/v1/calls/nobody/hangup", json={})
        assert missing.status_code == 404, missing.text
        assert missing.headers["content-type"].startswith("application/problem+json")
        await call_in(client)
        await eventually(lambda: bool(seen.callers), within=15)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
        bad = await instance.api.post(f"/v1/calls/{caller}/hangup", json={"cause": "x y"})
        assert bad.status_code == 422  # never free text on the ESL line
        reply = await instance.api.post(
            f"/v1/calls/{caller}/hangup", json={"cause": "CALL_REJECTED"}
        )
        assert reply.status_code == 202, reply.text
        await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
        assert caller in seen.hung_up  # the switch itself ended the caller's leg
        alice = (await instance.api.get("/v1/agents/alice")).json()
        assert (alice["state"], alice["call_id"]) == ("wrap_up", None)
        again = await instance.api.post(f"/v1/calls/{caller}/hangup", json={})
        assert again.status_code == 404  # the call is gone
    [ended] = published.of("call.ended", caller)
    assert ended.data.outcome.value == "answered"  # type: ignore[attr-defined]
    assert ended.data.hangup_cause == "CALL_REJECTED"  # type: ignore[attr-defined]
    assert ended.data.hangup_by == "agent"  # type: ignore[attr-defined]
    await eventually(lambda: bool(published.of("agent.state_changed")), within=15)
    last = published.of("agent.state_changed")[-1]
    assert last.data.to_state.value == "wrap_up"  # type: ignore[attr-defined]
