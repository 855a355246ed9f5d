"""What routing relies on from FreeSWITCH, checked the same way on the simulator and the real one.

Each scenario drives a switch with the commands routing sends (originate an agent leg tagged
``cc_role``/``cc_leg``, ``uuid_bridge`` on its answer, ``uuid_kill``) and reduces what came back
to what routing reads: per leg, the routing events in order with the variables and causes it
uses, and the command replies. Both switches must give the same reduced trace, written down
here once, so the simulator agrees with the real FreeSWITCH (which is right when they differ).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import eventually
from cc_routing.adapters.freeswitch import ROUTING_EVENTS, ROUTING_FILTERS, ROUTING_FORMAT
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration


@dataclass
class Trace:
    """The routing events each leg got, reduced to what routing reads from them."""

    names: dict[str, str] = field(default_factory=dict)
    legs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    jobs: dict[str, str] = field(default_factory=dict)
    caller: str | None = None
    strangers: int = 0
    """Events of channels routing does not route (the caller's origin half): filtered out."""

    def __call__(self, event: EslEvent) -> None:
        if event.name == "BACKGROUND_JOB":
            self.jobs[event.job_uuid or ""] = event.body.strip()
            return
        leg = event.unique_id or ""
        caller = event.variable("cc_queue") and not event.variable("cc_role")
        if caller and self.caller is None:
            self.caller = leg
            self.names[leg] = "caller"
        name = self.names.get(leg)
        if name is None and event.variable("cc_role") == "agent":
            name = "agent" if event.variable("cc_leg") == leg else "agent-far-half"
            self.names[leg] = name
        if name is None:
            self.strangers += 1
            return
        self.legs[name].append(reduce(event, name))

    def ended(self, name: str) -> bool:
        return any(line.startswith("CHANNEL_HANGUP_COMPLETE") for line in self.legs[name])


def reduce(event: EslEvent, name: str) -> str:
    """One event as routing sees it: its name and the fields routing reads for this leg."""
    parts = [event.name]
    if name == "caller" and event.name == "CHANNEL_PARK":
        parts += [
            f"queue={event.variable('cc_queue')}",
            f"number={event.get('Caller-Caller-ID-Number')}",
            f"dialled={event.get('Caller-Destination-Number')}",
        ]
    if event.name == "CHANNEL_HANGUP_COMPLETE":
        parts.append(f"cause={event.hangup_cause}")
    return " ".join(parts)


async def run(switch: SwitchUnderTest, agent: str, *, then: str) -> tuple[Trace, list[str]]:
    """Park a caller, ring ``agent``; ``then``: bridge on answer, or a hangup while ringing."""
    endpoint = switch.endpoint
    trace = Trace()
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    client.on("*", trace)
    replies: list[str] = []
    async with client:
        await client.events(ROUTING_FORMAT, *ROUTING_EVENTS)  # as routing subscribes
        for header, value in ROUTING_FILTERS:
            await client.filter(header, value)
        origin = str(uuid.uuid4())
        await client.bgapi(
            f"originate {{origination_uuid={origin},origination_caller_id_number=4930222}}"
            "loopback/7200/default &park()"
        )
        await eventually(lambda: trace.caller is not None, within=10)
        caller = trace.caller
        assert caller is not None
        leg = str(uuid.uuid4())
        timeout = "2" if then == "no_answer" else "30"
        job = await client.bgapi(
            f"originate {{origination_uuid={leg},cc_role=agent,cc_leg={leg},"
            f"originate_timeout={timeout},ignore_early_media=true,hangup_after_bridge=true}}"
            f"{agent} &park()"
        )
        if then == "bridge":
            await eventually(lambda: bool(trace.legs["agent"]), within=10)
            bridge = await client.bgapi(f"uuid_bridge {caller} {leg}")
            replies.append(f"uuid_bridge {_reply((await bridge.result()).text, leg)}")
            replies.append(f"originate {_reply((await job.result()).text, leg)}")
            await eventually(lambda: "CHANNEL_BRIDGE" in trace.legs["caller"], within=10)
            await asyncio.sleep(0.3)
            await client.bgapi(f"uuid_kill {origin}")
        elif then == "abandon":
            await asyncio.sleep(0.5)
            await client.bgapi(f"uuid_kill {origin}")
            await eventually(lambda: trace.ended("caller"), within=10)
            kill = await client.bgapi(f"uuid_kill {leg} ORIGINATOR_CANCEL")
            replies.append(f"uuid_kill {_reply((await kill.result()).text, leg)}")
            replies.append(f"originate {_reply((await job.result()).text, leg)}")
        else:
            replies.append(f"originate {_reply((await job.result()).text, leg)}")
            await client.bgapi(f"uuid_kill {origin}")
        await eventually(lambda: trace.ended("caller") and trace.ended("agent"), within=10)
        await asyncio.sleep(0.3)
    assert trace.strangers == 0
    return trace, replies


def _reply(text: str, leg: str) -> str:
    """A command's reply with the agent leg's uuid named."""
    return text.strip().replace(leg, "<agent leg>")


CALLER_PARKED = "CHANNEL_PARK queue=support number=4930222 dialled=7200"


async def test_offer_answer_and_bridge(switch: SwitchUnderTest) -> None:
    if switch.simulator is not None:
        switch.simulator.switch.settings.originate_reply_seconds = 0.5  # the race, every time
    trace, replies = await run(switch, "loopback/7303/default", then="bridge")
    assert trace.legs["caller"] == [
        "CHANNEL_ANSWER",
        CALLER_PARKED,
        "CHANNEL_BRIDGE",
        "CHANNEL_HANGUP_COMPLETE cause=NORMAL_CLEARING",
    ]
    assert trace.legs["agent"][0] == "CHANNEL_ANSWER"
    assert trace.legs["agent"][-1] == "CHANNEL_HANGUP_COMPLETE cause=NORMAL_CLEARING"
    assert "CHANNEL_BRIDGE" not in trace.legs["agent"]  # reported once, on the caller
    # mod_loopback copies the originate variables onto the far half too: told apart by cc_leg.
    assert trace.legs["agent-far-half"][0] == "CHANNEL_ANSWER"
    assert replies[0] == "uuid_bridge +OK <agent leg>"
    # Bridged before the originate returned: its job may end ORIGINATOR_CANCEL, bridge standing.
    assert replies[1] in ("originate +OK <agent leg>", "originate -ERR ORIGINATOR_CANCEL")
    if switch.simulator is not None:
        assert replies[1] == "originate -ERR ORIGINATOR_CANCEL"


async def test_the_caller_abandons_while_the_agent_rings(switch: SwitchUnderTest) -> None:
    trace, replies = await run(switch, "loopback/7302/default", then="abandon")
    assert trace.legs["caller"] == [
        "CHANNEL_ANSWER",
        CALLER_PARKED,
        "CHANNEL_HANGUP_COMPLETE cause=NORMAL_CLEARING",
    ]
    assert trace.legs["agent"] == ["CHANNEL_HANGUP_COMPLETE cause=ORIGINATOR_CANCEL"]
    assert replies == ["uuid_kill +OK", "originate -ERR ORIGINATOR_CANCEL"]


async def test_the_agent_does_not_answer(switch: SwitchUnderTest) -> None:
    trace, replies = await run(switch, "loopback/7302/default", then="no_answer")
    assert trace.legs["agent"] == ["CHANNEL_HANGUP_COMPLETE cause=NO_ANSWER"]
    assert replies == ["originate -ERR NO_ANSWER"]


LEG_EVENTS = ("CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB")


async def test_commands_naming_a_leg_before_it_exists_find_no_channel(
    switch: SwitchUnderTest,
) -> None:
    """``bgapi originate {origination_uuid=X}`` returns before channel X exists: FreeSWITCH's
    originate thread creates it a moment later (1-2 ms on the idle test build, longer under
    load; ``originate_delay_start`` widens the window here so it is hit every time). Commands
    naming X in that window find no channel, and the leg then rings anyway until hung up
    again: the race routing's re-hangup of an unconfirmed leg is for (captured in
    testdata/esl-transcripts/races/)."""
    endpoint = switch.endpoint
    events: list[EslEvent] = []
    watcher = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    watcher.on("*", events.append)
    other = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with watcher, other:
        await watcher.events("plain", *LEG_EVENTS)
        caller = await watcher.bgapi(
            "originate {origination_caller_id_number=4930222}loopback/7303/default &park()"
        )
        caller_leg = (await caller.result()).text.split()[-1]
        leg = str(uuid.uuid4())
        job = await watcher.bgapi(
            f"originate {{origination_uuid={leg},cc_role=agent,cc_leg={leg},"
            "originate_delay_start=400,originate_timeout=30,ignore_early_media=true}"
            "loopback/7302/default &park()"
        )
        early = [
            (await other.api(command)).text
            for command in (
                f"uuid_kill {leg} ORIGINATOR_CANCEL",
                f"uuid_setvar {leg} cc_queue support",
                f"uuid_bridge {caller_leg} {leg}",
            )
        ]
        seen_before = _of(events, leg)
        await eventually(lambda: _of(events, leg) == ["CHANNEL_CREATE", "CHANNEL_ORIGINATE"])
        await asyncio.sleep(1.0)
        ringing = _of(events, leg)  # nothing happened to it: the leg rings on
        again = await other.api(f"uuid_kill {leg} ORIGINATOR_CANCEL")
        ended = (await job.result()).text.strip()
        await eventually(lambda: "CHANNEL_HANGUP_COMPLETE" in _of(events, leg))
        await other.api(f"uuid_kill {caller_leg}")
    assert early == ["-ERR No such channel!\n", "-ERR No such channel!\n", "-ERR Invalid uuid\n"]
    assert seen_before == []
    assert ringing == ["CHANNEL_CREATE", "CHANNEL_ORIGINATE"]
    assert again.text == "+OK\n"
    assert ended == "-ERR ORIGINATOR_CANCEL"
    [hangup] = [e for e in events if e.unique_id == leg and e.name == "CHANNEL_HANGUP_COMPLETE"]
    assert hangup.hangup_cause == "ORIGINATOR_CANCEL"


def _of(events: list[EslEvent], leg: str) -> list[str]:
    """The names of one leg's channel events, in order."""
    return [e.name for e in events if e.unique_id == leg and e.name.startswith("CHANNEL_")]


async def test_show_channels_lists_a_new_leg_a_moment_after_it_exists(
    switch: SwitchUnderTest,
) -> None:
    """``show channels`` reads FreeSWITCH's core database, which a background thread writes a
    moment after a channel is created (30-390 ms on the test build, bench/switch_listing_lag.py)
    or ended, while ``uuid_exists`` reads the live session: right after CHANNEL_CREATE a leg
    exists but is not listed yet. Routing's restore must not take "not listed" for "gone".

    The real switch's writer sometimes runs just then (the first leg after a start is often
    listed at once), so up to five legs are tried for one caught in the gap; each is listed
    later."""
    endpoint = switch.endpoint
    watcher = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    other = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    async with watcher, other:
        await watcher.events("plain", *LEG_EVENTS)
        seen = [await _listing_right_after_create(watcher, other)]
        while len(seen) < 5 and seen[-1] != ("true", False, True):
            seen.append(await _listing_right_after_create(watcher, other))
    assert all(exists == "true" for exists, _, _ in seen)
    assert all(listed_later for _, _, listed_later in seen)
    assert seen[-1] == ("true", False, True)  # exists, not listed at once, listed later


async def _listing_right_after_create(
    watcher: InboundClient, other: InboundClient
) -> tuple[str, bool, bool]:
    """Originate a leg; as its CHANNEL_CREATE arrives, ask ``uuid_exists`` and whether the
    listing has it; then wait until it is listed and hang it up."""
    leg = str(uuid.uuid4())
    created = asyncio.create_task(
        watcher.wait_for_event(lambda e: e.name == "CHANNEL_CREATE" and e.unique_id == leg)
    )
    await asyncio.sleep(0)  # the waiter is in place before the leg can exist
    await watcher.bgapi(
        f"originate {{origination_uuid={leg},cc_role=agent,cc_leg={leg}}}"
        "loopback/7303/default &park()"
    )
    async with asyncio.timeout(10):
        await created
    exists = (await other.api(f"uuid_exists {leg}")).text
    listed_at_once = await _listed(other, leg)
    listed_later = await _listed(other, leg, within=10)
    await other.api(f"uuid_kill {leg}")
    return exists, listed_at_once, listed_later


async def _listed(client: InboundClient, leg: str, *, within: float = 0) -> bool:
    """Whether ``show channels as json`` lists the leg now (or does within that many seconds)."""
    deadline = asyncio.get_running_loop().time() + within
    while leg not in {row.uuid for row in await client.show_channels()}:
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True
