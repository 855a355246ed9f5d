"""A routing restart (a crash) during a click-to-call: the next instance settles or adopts it.

The agent's phone still ringing: the call ends ``failed`` and the ring is hung up. Bridged: the
call comes back on its agent (a CRM can hang it up, it ends answered). The customer gone while
no instance listened: the call ends answered, once. On the simulator and (CC_TEST_FREESWITCH)
the real switch.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from cc_common.testing import eventually
from cc_routing.testing import (
    AGENT_AT_ONCE,
    AGENT_NEVER,
    Published,
    Routing,
    configure,
    routing,
    watch,
)
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration

CUSTOMER = "+33142687303"
"""As in test_routing_cti: the real switch maps it to its extension 7303 (answers at once)."""
Moment = Literal["agent_ringing", "bridged", "customer_gone"]


async def place(instance: Routing) -> str:
    """Alice clicks to call the customer; return the call id."""
    body = {"number": CUSTOMER, "queue": "support", "customer_id": "CRM-7"}
    reply = await instance.api.post("/v1/agents/alice/calls", json=body)
    assert reply.status_code == 202, reply.text
    call_id: str = reply.json()["call_id"]
    return call_id


@pytest.mark.parametrize("moment", ["agent_ringing", "bridged", "customer_gone"])
async def test_a_click_to_call_across_a_crash_is_settled_or_adopted(
    moment: Moment, routed_switch: tuple[SwitchUnderTest, Any, Published]
) -> None:
    switch, settings, published = routed_switch
    dial = "loopback/{number}/default" if switch.real else "sofia/gateway/carrier/{number}"
    settings = settings.model_copy(update={"routing_callback_dial": dial})
    phone = AGENT_NEVER if moment == "agent_ringing" else AGENT_AT_ONCE
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as instance:
            await configure(instance.api, {"alice": phone}, ring_timeout=60, wrap_up=60)
            call_id = await place(instance)
            if moment == "agent_ringing":
                await eventually(
                    lambda: bool(published.of("call.agent_offered", call_id)), within=15
                )
            else:
                await eventually(lambda: any(call_id in pair for pair in seen.bridges), within=20)
                await eventually(lambda: bool(published.of("call.answered", call_id)), within=15)
            instance.crash()
        if moment == "customer_gone":
            await client.bgapi(f"uuid_kill {call_id}")
            await eventually(lambda: call_id in seen.hung_up, within=15)
        async with routing(settings) as instance:
            api = instance.api
            if moment == "bridged":
                view = (await api.get(f"/v1/calls/{call_id}")).json()
                assert (view["status"], view["direction"], view["agent_id"]) == (
                    "connected",
                    "outbound",
                    "alice",
                )
                assert (view["dialed_number"], view["customer_id"]) == (CUSTOMER, "CRM-7")
                refused = await api.post(
                    f"/v1/calls/{call_id}/transfer",
                    json={"target_kind": "queue", "target": "support"},
                )
                assert refused.status_code == 409  # still known as a click-to-call
                reply = await api.post(f"/v1/calls/{call_id}/hangup", json={})
                assert reply.status_code == 202, reply.text
            await eventually(lambda: bool(published.of("call.ended", call_id)), within=20)
            gone = (await api.get(f"/v1/calls/{call_id}")).status_code
            assert gone == 404
            alice = (await api.get("/v1/agents/alice")).json()
            wanted = "available" if moment == "agent_ringing" else "wrap_up"
            assert (alice["state"], alice["call_id"]) == (wanted, None)
            if moment == "agent_ringing":  # its ring was hung up, nothing else rings
                legs = [leg for leg in seen.events if leg not in (call_id,)]
                await eventually(lambda: all(leg in seen.hung_up for leg in legs), within=15)
            assert list(instance.service.runtime.recent_problems) == []
    [ended] = published.of("call.ended", call_id)
    outcome = "failed" if moment == "agent_ringing" else "answered"
    assert ended.data.outcome.value == outcome  # type: ignore[attr-defined]
    assert published.by_call[call_id][0] == "call.placed"
