"""What the switch cannot give back survives a routing restart: the call ledger keeps it.

A held call is still held after a crash (shown so, and resume works); a call a CRM hung up
with a cause, the instance gone before it heard the hangup, still ends with that cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cc_common.bus import Bus
from cc_common.esl import InboundClient
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
from cc_sim.config import SimConfig
from cc_sim.simulator import Simulator
from cc_sim.switches import SwitchEndpoint, SwitchUnderTest

pytestmark = pytest.mark.integration


async def test_a_held_call_is_still_held_after_a_crash_and_resumes(
    pg_url: str,
    amqp_url: str,
    make_rabbit_bus: Callable[..., Any],
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> None:
    """Simulator only, as the hold test of test_routing_cti: hold needs a SIP agent leg."""
    observer: Bus = await make_rabbit_bus()
    published = Published()
    tenant = unique_name("t")[:40]
    queue = rabbit_cleanup.queue(unique_name("published"))
    await observer.consume(queue, bindings=[f"{tenant}.#"], handler=published, concurrency=1)
    async with Simulator(SimConfig(esl_port=0)) as simulator:
        simulator.register_agent("1001", answer_delay=(0.2, 0.3))
        endpoint = SwitchEndpoint("sim", "127.0.0.1", simulator.esl_port)
        settings = routing_settings(
            endpoint,
            tenant=tenant,
            pg_url=pg_url,
            amqp_url=amqp_url,
            exchange=observer._exchange_name,  # type: ignore[attr-defined]
        )
        holds: list[tuple[str, str]] = []
        async with (
            watch(endpoint) as (client, seen),
            InboundClient(endpoint.host, endpoint.esl_port, endpoint.password) as hold_log,
        ):
            hold_log.on("*", lambda e: holds.append((e.name, e.unique_id or "")))
            await hold_log.events("plain", "CHANNEL_HOLD", "CHANNEL_UNHOLD")
            async with routing(settings) as instance:
                await configure(instance.api, {"alice": "user/1001"})
                await call_in(client)
                await eventually(lambda: bool(seen.callers), within=15)
                caller = seen.callers[0]
                await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
                [answered] = published.of("call.answered", caller)
                agent_leg = answered.data.agent_leg_uuid  # type: ignore[attr-defined]
                assert (await instance.api.post(f"/v1/calls/{caller}/hold")).status_code == 202
                await eventually(lambda: ("CHANNEL_HOLD", agent_leg) in holds, within=15)
                await eventually(lambda: bool(published.of("call.held", caller)), within=15)
                [held] = published.of("call.held", caller)
                instance.crash()
            async with routing(settings) as instance:
                view = (await instance.api.get(f"/v1/calls/{caller}")).json()
                assert view["status"] == "connected"
                assert view["held_since"] == pytest.approx(held.occurred_at.timestamp(), abs=0.01)
                again = await instance.api.post(f"/v1/calls/{caller}/hold")
                assert again.status_code == 409  # it is on hold already
                reply = await instance.api.post(f"/v1/calls/{caller}/resume")
                assert reply.status_code == 202, reply.text
                await eventually(lambda: ("CHANNEL_UNHOLD", agent_leg) in holds, within=15)
                await eventually(lambda: bool(published.of("call.resumed", caller)), within=15)
                assert (await instance.api.get(f"/v1/calls/{caller}")).json()["held_since"] is None
                hang_up = await instance.api.post(f"/v1/calls/{caller}/hangup", json={})
                assert hang_up.status_code == 202
                await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
                assert list(instance.service.runtime.recent_problems) == []
    [resumed] = published.of("call.resumed", caller)
    [ended] = published.of("call.ended", caller)
    held_for = (resumed.occurred_at - held.occurred_at).total_seconds()
    assert resumed.data.hold_seconds == pytest.approx(held_for, abs=0.01)  # type: ignore[attr-defined]
    assert ended.data.hold_seconds == resumed.data.hold_seconds  # type: ignore[attr-defined]


async def test_a_crm_hang_up_unheard_before_a_crash_ends_with_its_cause(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    """The instance sends the hang-up, then hears nothing more (it dies before the switch's
    hangup reaches it); the next one ends the call with the CRM's cause, by the agent."""
    switch, settings, published = routed_switch
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as instance:
            await configure(instance.api, {"alice": AGENT_AT_ONCE}, wrap_up=60)
            await call_in(client)
            await eventually(lambda: bool(seen.callers), within=15)
            caller = seen.callers[0]
            await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
            instance.service.runtime._listening = False  # deaf from here: the switch's news is lost
            reply = await instance.api.post(
                f"/v1/calls/{caller}/hangup", json={"cause": "CALL_REJECTED"}
            )
            assert reply.status_code == 202, reply.text
            await eventually(lambda: caller in seen.hung_up, within=15)
            assert published.of("call.ended", caller) == []
            instance.crash()
        async with routing(settings) as instance:
            await eventually(lambda: bool(published.of("call.ended", caller)), within=20)
            assert list(instance.service.runtime.recent_problems) == []
    [ended] = published.of("call.ended", caller)
    assert ended.data.outcome.value == "answered"  # type: ignore[attr-defined]
    assert ended.data.hangup_cause == "CALL_REJECTED"  # type: ignore[attr-defined]
    assert ended.data.hangup_by == "agent"  # type: ignore[attr-defined]
