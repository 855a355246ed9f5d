"""The position announcement routing broadcasts to a queued caller plays on the switch: on the
real FreeSWITCH the project's ``cc_queue_position`` phrase is loaded (``freeswitch/lang`` through
the test overlay's ``en`` language) and plays every prompt and number to the end."""

from __future__ import annotations

import asyncio

import pytest

from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import eventually
from cc_routing.adapters.freeswitch import Dialplan, to_esl
from cc_routing.core import PlayAnnouncement
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration

ANNOUNCEMENTS = {  # (position, estimated wait) -> the prompts the phrase plays, in order
    (3, None): ["ivr/ivr-you_are_number.wav", "digits/3.wav", "ivr/ivr-in_line.wav"],
    (2, 240.0): [
        "ivr/ivr-you_are_number.wav",
        "digits/2.wav",
        "ivr/ivr-in_line.wav",
        "ivr/ivr-estimated_hold_time.wav",
        "digits/4.wav",
        "time/minutes.wav",
    ],
}


def announcement(call_id: str, position: int, estimate: float | None) -> str:
    """Routing's own ESL line for the announcement (the hold music line after it is left out)."""
    command = PlayAnnouncement(call_id, "sales", position, estimate)
    return to_esl(command, dialplan=Dialplan(), gateway_template="")[0]


async def test_the_queue_position_phrase_plays_to_the_end(switch: SwitchUnderTest) -> None:
    endpoint = switch.endpoint
    events: list[EslEvent] = []
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with client:
        client.on("*", events.append)
        await client.events("plain", "CHANNEL_EXECUTE_COMPLETE", "PLAYBACK_STOP", "BACKGROUND_JOB")
        job = await client.bgapi("originate loopback/7101/default &park()")
        async with asyncio.timeout(20):
            result = await job.result()
        assert result.ok, result.text
        caller = result.text.split()[-1]

        for (position, estimate), prompts in ANNOUNCEMENTS.items():
            line = announcement(caller, position, estimate)
            phrase = line.split()[2]
            assert phrase.startswith("phrase:cc_queue_position:"), line
            events.clear()
            reply = await client.api(line)
            assert reply.ok, reply.text

            def played(phrase: str = phrase) -> EslEvent | None:
                return next(
                    (
                        e
                        for e in events
                        if e.name == "CHANNEL_EXECUTE_COMPLETE"
                        and e.unique_id == caller
                        and e.get("Application") == "playback"
                        and e.get("Application-Data") == phrase
                    ),
                    None,
                )

            await eventually(lambda: played() is not None, within=30)
            done = played()
            assert done is not None
            assert done.get("Application-Response") == "FILE PLAYED", done.get(
                "Application-Response"
            )
            if switch.real is not None:  # the macro was found and each prompt played in full
                stops = [e for e in events if e.name == "PLAYBACK_STOP" and e.unique_id == caller]
                paths = [e.get("Playback-File-Path") or "" for e in stops]
                assert len(paths) == len(prompts), paths
                for path, prompt in zip(paths, prompts, strict=True):
                    assert path.endswith(prompt), (path, prompt)
                assert all(e.get("Playback-Status") == "done" for e in stops), paths
        await client.api(f"uuid_kill {caller}")
