"""The switch fixture: the simulator always, the real FreeSWITCH when CC_TEST_FREESWITCH is set.

The same few steps on each switch: authenticate, answer ``status``, originate a loopback leg
that answers (7101: answer, park) and see it answered, parked and hung up in that order.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from cc_common.esl import EslEvent, InboundClient
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration


async def test_a_loopback_leg_answers_parks_and_hangs_up(switch: SwitchUnderTest) -> None:
    endpoint = switch.endpoint
    leg = str(uuid.uuid4())
    seen: list[str] = []
    hung_up = asyncio.Event()

    def record(event: EslEvent) -> None:
        if event.unique_id == leg:
            seen.append(event.name)
            if event.name == "CHANNEL_HANGUP_COMPLETE":
                hung_up.set()

    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    client.on("*", record)
    async with client:
        await client.events(
            "plain", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"
        )
        status = await client.api("status")
        assert "is ready" in status.text
        originate = f"originate {{origination_uuid={leg}}}loopback/7101/default &park()"
        job = await client.bgapi(originate)
        async with asyncio.timeout(10):
            result = await job.result()
        assert result.ok, result.text
        assert result.text.split()[-1] == leg
        await client.bgapi(f"uuid_kill {leg}")
        async with asyncio.timeout(10):
            await hung_up.wait()
    assert (
        seen.index("CHANNEL_ANSWER")
        < seen.index("CHANNEL_PARK")
        < seen.index("CHANNEL_HANGUP_COMPLETE")
    )


async def test_a_hangup_hook_sees_the_last_bridge_partner_and_times(
    switch: SwitchUnderTest,
) -> None:
    """What routing's caller hangup note relies on: after ``uuid_bridge`` and a hangup,
    ``api_hangup_hook`` expands ``last_bridge_to`` (the partner), ``bridge_uepoch`` and
    ``end_uepoch``; ``bridge_to`` is already cleared."""
    endpoint = switch.endpoint
    caller, agent = str(uuid.uuid4()), str(uuid.uuid4())
    realm = f"hook_{caller[:8]}"
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with client:
        await client.events("plain", "BACKGROUND_JOB")
        for leg in (caller, agent):
            job = await client.bgapi(f"originate {{origination_uuid={leg}}}loopback/7101 &park()")
            async with asyncio.timeout(10):
                assert (await job.result()).ok
        note = "${end_uepoch}:${last_bridge_to}:${bridge_uepoch}:${bridge_to}"
        hook = f"hash::insert/{realm}/{caller}/{note}"
        assert (await client.api(f"uuid_setvar {caller} api_hangup_hook {hook}")).ok
        assert (await client.api(f"uuid_bridge {caller} {agent}")).ok
        await asyncio.sleep(0.5)  # a real conversation, however short
        await client.bgapi(f"uuid_kill {caller}")
        text = "-ERR no reply"  # what an empty select answers, until the hook has run
        async with asyncio.timeout(10):
            while text.startswith("-ERR"):
                await asyncio.sleep(0.1)
                text = (await client.api(f"hash select/{realm}/{caller}")).text.strip()
        await client.api(f"hash delete/{realm}/{caller}")
    assert text.count(":") == 3, text
    end, partner, bridged, bridge_to = text.split(":")
    assert partner == agent
    assert bridge_to == ""
    assert 0 < int(bridged) <= int(end)
    assert int(end) - int(bridged) >= 400_000  # microseconds
