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
