"""The dial strings routing accepts are ones the switch rings: each passes the contact check and,
sent in routing's own originate line, rings and answers on the simulator and the real FreeSWITCH."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from cc_common.esl import InboundClient
from cc_routing.adapters.freeswitch import originate_agent
from cc_routing.core import AgentConfig, OfferCall
from cc_routing.core.config import check_agent
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration


def contacts(switch: SwitchUnderTest) -> list[str]:
    """Endpoints of the switch's test dialplan: loopback always, SIP on the real switch."""
    found = ["loopback/7101/default"]
    if switch.real is not None:
        assert switch.endpoint.sip_ext_port
        found.append(f"sofia/internal/7303@127.0.0.1:{switch.endpoint.sip_ext_port}")
    return found


async def test_accepted_contacts_ring_on_the_switch(switch: SwitchUnderTest) -> None:
    endpoint = switch.endpoint
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with client:
        await client.events("plain", "BACKGROUND_JOB")  # bgapi results arrive as these
        for contact in contacts(switch):
            check_agent(AgentConfig("a1", contact))
            leg = str(uuid.uuid4())
            offer = OfferCall(
                offer_id=leg,
                call_id=str(uuid.uuid4()),
                agent_id="a1",
                contact=contact,
                queue="sales",
                ring_timeout_seconds=10,
                attempt=1,
            )
            job = await client.bgapi(originate_agent(offer))
            async with asyncio.timeout(20):
                result = await job.result()
            assert result.ok, (contact, result.text)
            assert result.text.split()[-1] == leg
            await client.bgapi(f"uuid_kill {leg}")
