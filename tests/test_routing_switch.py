"""Routing on a switch: the races and restarts the real FreeSWITCH shows, on both switches.

Each test runs on the simulator and, when ``CC_TEST_FREESWITCH`` names one, on the real
FreeSWITCH. The routing service runs in-process with the real PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cc_common.esl import EslEvent
from cc_common.testing import eventually
from cc_routing.adapters.freeswitch import VAR_CALL, CallerBridged, Input
from cc_routing.testing import (
    AGENT_AFTER_1S,
    AGENT_AT_ONCE,
    AGENT_NEVER,
    Published,
    call_in,
    configure,
    routing,
    watch,
)
from cc_sim.switches import SwitchUnderTest

pytestmark = pytest.mark.integration

Setup = tuple[SwitchUnderTest, Any, Published]


@pytest.fixture
async def setup(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> tuple[SwitchUnderTest, Any, Published]:
    """Routing on the switch under test, watched on the bus (see tests/conftest.py)."""
    switch = routed_switch[0]
    if switch.simulator is not None:
        # FreeSWITCH's originate replies about 20 ms after the answer; here it waits long
        # enough for routing's bridge to land first every time, so the race always happens.
        switch.simulator.switch.settings.originate_reply_seconds = 0.5
        switch.simulator.switch.settings.early_bridge_cancel = 1.0
    return routed_switch


def outcome(published: Published, call_id: str) -> list[str]:
    return [e.data.outcome.value for e in published.of("call.ended", call_id)]  # type: ignore[attr-defined]


async def test_an_agent_bridged_before_the_originate_returns_is_answered_once(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE})
        leg = await call_in(client, number="4930111")
        await eventually(lambda: bool(seen.callers), within=10)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=10)
        # The originate's reply (often ORIGINATOR_CANCEL on the real switch) comes and goes.
        await asyncio.sleep(1.0)
        assert list(instance.service.runtime.recent_problems) == []  # no unknown or stale agent leg
        await client.bgapi(f"uuid_kill {leg}")
        await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
    if switch.simulator is not None:
        assert "-ERR ORIGINATOR_CANCEL" in seen.job_replies
    assert len(published.of("call.agent_offered", caller)) == 1
    assert published.of("call.agent_missed") == []
    assert len(published.of("call.answered", caller)) == 1
    assert published.of("call.abandoned") == []
    assert outcome(published, caller) == ["answered"]
    assert len(seen.agent_answers) == 1
    assert seen.bridged_callers() == [caller]
    [offered] = published.of("call.offered", caller)
    assert offered.data.caller_number == "4930111"  # type: ignore[attr-defined]
    assert offered.data.dialed_number == "7200"  # type: ignore[attr-defined]


async def test_a_restart_leaves_a_live_conversation_alone(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"alice": AGENT_AT_ONCE})
            leg = await call_in(client)
            await eventually(lambda: bool(seen.callers), within=10)
            caller = seen.callers[0]
            await eventually(lambda: bool(published.of("call.answered", caller)), within=10)
        async with routing(settings) as second:
            await asyncio.sleep(1.0)
            # Neither the caller nor either half of the agent's loopback pair was hung up.
            assert seen.hung_up == {}
            alice = (await second.api.get("/v1/agents/alice")).json()
            assert alice["state"] == "on_call"
            assert list(second.service.runtime.recent_problems) == []
            await client.bgapi(f"uuid_kill {leg}")
            await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
    assert outcome(published, caller) == ["answered"]
    assert len(published.of("call.answered", caller)) == 1


async def test_a_crash_between_bridge_and_confirmation_restores_an_answered_call(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"alice": AGENT_AT_ONCE, "bob": AGENT_AT_ONCE})
            handle = first.service.runtime.handle

            async def crash_on_bridge(happened: Input, when: float) -> None:
                if isinstance(happened, CallerBridged):
                    first.crash()  # the process dies before the confirmation is applied
                    return
                await handle(happened, when)

            first.service.runtime.handle = crash_on_bridge  # type: ignore[method-assign]
            leg = await call_in(client)
            await eventually(lambda: len(seen.bridges) == 1, within=10)
            caller = seen.callers[0]
            await asyncio.sleep(0.3)
        assert published.of("call.answered") == []
        async with routing(settings) as second:
            await eventually(lambda: bool(published.of("call.answered", caller)), within=10)
            await asyncio.sleep(1.0)
            await client.bgapi(f"uuid_kill {leg}")
            await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
            agents = [(await second.api.get(f"/v1/agents/{a}")).json() for a in ("alice", "bob")]
    # Answered once, from the pick-up; nobody else was rung for the caller meanwhile.
    assert len(published.of("call.agent_offered", caller)) == 1
    assert len(published.of("call.answered", caller)) == 1
    assert outcome(published, caller) == ["answered"]
    assert seen.bridged_callers() == [caller]
    assert {a["state"] for a in agents} == {"available"}
    [answered] = published.of("call.answered", caller)
    assert answered.data.wait_seconds < 5  # type: ignore[attr-defined]


async def test_a_conversation_that_ended_while_routing_was_down_after_an_unconfirmed_bridge(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    """The bridge was asked for (and saved) and happened, but no instance heard it; the caller
    then talked and hung up before routing came back. Their channel noted its bridge partner
    (the agent's leg) at hangup, so the call was answered and then ended, not abandoned."""
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"alice": AGENT_AT_ONCE})
            handle = first.service.runtime.handle

            async def crash_on_bridge(happened: Input, when: float) -> None:
                if isinstance(happened, CallerBridged):
                    first.crash()  # dies after the bridge, before hearing it
                    return
                await handle(happened, when)

            first.service.runtime.handle = crash_on_bridge  # type: ignore[method-assign]
            leg = await call_in(client)
            await eventually(lambda: len(seen.bridges) == 1, within=10)
            caller = seen.callers[0]
            await eventually(lambda: bool(published.of("call.agent_offered", caller)), within=10)
            [offer] = published.of("call.agent_offered", caller)
            agent_leg = offer.data.agent_leg_uuid  # type: ignore[attr-defined]
            await asyncio.sleep(1.0)  # the conversation goes on with no instance listening
            await client.bgapi(f"uuid_kill {leg}")
            await eventually(lambda: caller in seen.hung_up, within=10)
        assert published.of("call.answered") == []
        assert published.of("call.ended") == []
        assert seen.bridged_callers() == [caller]
        async with routing(settings) as second:
            await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
            alice = (await second.api.get("/v1/agents/alice")).json()
    assert published.of("call.abandoned", caller) == []
    [answered] = published.of("call.answered", caller)
    assert answered.agent_id == "alice"
    assert answered.data.agent_leg_uuid == agent_leg  # type: ignore[attr-defined]
    assert outcome(published, caller) == ["answered"]
    assert published.by_call[caller][-2:] == ["call.answered", "call.ended"]
    [ended] = published.of("call.ended", caller)
    # The talk ran from the bridge to the caller's hangup, on FreeSWITCH's clock.
    assert 0.5 < ended.data.talk_seconds < seen.hung_up[caller] - seen.parked_at[caller]  # type: ignore[attr-defined]
    assert alice["state"] in ("available", "wrap_up")
    assert alice["calls_answered"] == 1


async def test_an_agent_who_ended_the_conversation_while_routing_was_down_had_answered(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    """As above, but the agent hangs up first and the caller (``park_after_bridge``) falls
    back to park, their channel still naming the agent's leg as its last bridge partner.
    Answered, ended by the agent, and the caller let go (not put back in line for a second
    conversation)."""
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"alice": AGENT_AT_ONCE, "bob": AGENT_AT_ONCE})
            handle = first.service.runtime.handle

            async def crash_on_bridge(happened: Input, when: float) -> None:
                if isinstance(happened, CallerBridged):
                    first.crash()  # dies after the bridge, before hearing it
                    return
                await handle(happened, when)

            first.service.runtime.handle = crash_on_bridge  # type: ignore[method-assign]
            await call_in(client, park_after_bridge="true")  # as a dialplan may set it
            await eventually(lambda: len(seen.bridges) == 1, within=10)
            caller = seen.callers[0]
            await eventually(lambda: bool(published.of("call.agent_offered", caller)), within=10)
            [offer] = published.of("call.agent_offered", caller)
            agent_leg = offer.data.agent_leg_uuid  # type: ignore[attr-defined]
            await asyncio.sleep(1.0)  # the conversation goes on with no instance listening
            await client.bgapi(f"uuid_kill {agent_leg}")
            await eventually(lambda: agent_leg in seen.hung_up, within=10)
        assert caller not in seen.hung_up  # back in park, waiting for routing
        async with routing(settings):
            await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
            await eventually(lambda: caller in seen.hung_up, within=10)
    assert published.of("call.abandoned", caller) == []
    assert len(published.of("call.agent_offered", caller)) == 1  # nobody else was rung
    [answered] = published.of("call.answered", caller)
    assert answered.data.agent_leg_uuid == agent_leg  # type: ignore[attr-defined]
    assert outcome(published, caller) == ["answered"]
    [ended] = published.of("call.ended", caller)
    assert ended.data.hangup_by == "agent"  # type: ignore[attr-defined]
    assert published.by_call[caller][-2:] == ["call.answered", "call.ended"]


async def test_a_clean_stop_waits_for_a_ringing_agent_to_answer(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"alice": AGENT_AFTER_1S})
            leg = await call_in(client)
            await eventually(lambda: bool(published.of("call.agent_offered")), within=10)
            caller = seen.callers[0]
        # The stopping instance waited for the answer 1 s later and saw the bridge through.
        assert len(published.of("call.answered", caller)) == 1
        async with routing(settings):
            await client.bgapi(f"uuid_kill {leg}")
            await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
    assert outcome(published, caller) == ["answered"]
    assert seen.bridged_callers() == [caller]


async def test_a_clean_stop_cancels_a_ring_nobody_answers_and_the_next_instance_offers_again(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"carol": AGENT_NEVER}, ring_timeout=30)
            leg = await call_in(client)
            await eventually(lambda: bool(published.of("call.agent_offered")), within=10)
            caller = seen.callers[0]
            [ring] = published.of("call.agent_offered", caller)
            ringing = ring.data.agent_leg_uuid  # type: ignore[attr-defined]
        # Nobody would hear that agent pick up now: the ring was cancelled on the way out.
        await eventually(lambda: ringing in seen.hung_up, within=10)
        async with routing(settings):
            await eventually(
                lambda: len(published.of("call.agent_offered", caller)) == 2, within=10
            )
            await client.bgapi(f"uuid_kill {leg}")
            await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
    assert outcome(published, caller) == ["abandoned"]
    assert published.of("call.agent_missed") == []  # a cancel of ours costs the agent nothing


async def test_a_restart_keeps_a_wrap_up_and_a_callbacks_skills(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {"alice": AGENT_AT_ONCE}, wrap_up=60)
            leg = await call_in(client)
            await eventually(lambda: bool(published.of("call.answered")), within=10)
            await client.bgapi(f"uuid_kill {leg}")
            await eventually(lambda: bool(published.of("call.ended")), within=10)
            before = (await first.api.get("/v1/agents/alice")).json()
            assert before["state"] == "wrap_up"
            await call_in(client, cc_skills="english")
            await eventually(lambda: len(seen.callers) == 2, within=10)
            waiting = seen.callers[1]
            await eventually(lambda: bool(published.of("call.queued", waiting)), within=10)
            reply = await first.api.post(
                f"/v1/calls/{waiting}/callback", json={"number": "4930777"}
            )
            assert reply.status_code == 200, reply.text
            callback_id = reply.json()["call_id"]
            assert reply.json()["skills"] == "english"
        async with routing(settings) as second:
            after = (await second.api.get("/v1/agents/alice")).json()
            callback = (await second.api.get(f"/v1/calls/{callback_id}")).json()
    assert after["state"] == "wrap_up"
    assert after["wrap_until"] == pytest.approx(before["wrap_until"])
    assert callback["skills"] == "english"
    assert callback["callback_number"] == "4930777"


async def test_a_caller_who_left_while_routing_was_down_waited_until_their_hangup(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen):
        async with routing(settings) as first:
            await configure(first.api, {})  # nobody to answer: the caller waits in line
            leg = await call_in(client)
            await eventually(lambda: bool(published.of("call.queued")), within=10)
            caller = seen.callers[0]
        await client.bgapi(f"uuid_kill {leg}")
        await eventually(lambda: caller in seen.hung_up, within=10)
        await asyncio.sleep(3.0)  # routing is down well after the caller left
        async with routing(settings):
            await eventually(lambda: bool(published.of("call.abandoned", caller)), within=10)
    [abandoned] = published.of("call.abandoned", caller)
    waited = seen.hung_up[caller] - seen.parked_at[caller]
    # Measured to the caller's hangup (FreeSWITCH's time), not to when routing came back.
    assert abandoned.data.wait_seconds == pytest.approx(waited, abs=0.5)  # type: ignore[attr-defined]
    assert outcome(published, caller) == ["abandoned"]


async def test_a_caller_who_leaves_before_the_agent_leg_exists_frees_the_agent_once_it_is_gone(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    """The caller hangs up right after routing sent the agent's originate, before the leg
    exists: routing's ``uuid_kill`` finds no channel and the leg goes on ringing. Routing hangs
    it up again; until the switch reports it gone, the agent is not rung for anyone else.

    FreeSWITCH creates the leg 1-2 ms after the originate on an idle switch, longer under load;
    here the originate carries ``originate_delay_start=1000`` (FreeSWITCH waits 1,000 timer
    ticks before creating the leg; the simulator does the same), so routing's hang-up lands
    first on both switches every time."""
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        left: list[str] = []

        async def leave(call_id: str) -> None:
            if not left:  # the first caller leaves as soon as routing sent the originate
                left.append(call_id)
                await client.bgapi(f"uuid_kill {call_id}")

        slow_to_create_agent_legs(instance, then=leave)
        await configure(instance.api, {"carol": AGENT_NEVER}, ring_timeout=30)
        await call_in(client, number="4930111")
        await eventually(lambda: bool(left) and left[0] in seen.hung_up, within=10)
        caller = left[0]
        await eventually(lambda: bool(published.of("call.agent_offered", caller)), within=10)
        [ring] = published.of("call.agent_offered", caller)
        leg = ring.data.agent_leg_uuid  # type: ignore[attr-defined]
        second = await call_in(client, number="4930222")
        await eventually(lambda: len(seen.callers) == 2, within=10)
        waiting = seen.callers[1]
        await eventually(lambda: bool(published.of("call.queued", waiting)), within=10)
        await eventually(lambda: leg in seen.hung_up, within=15)
        await eventually(lambda: bool(published.of("call.agent_offered", waiting)), within=10)
        [ring_again] = published.of("call.agent_offered", waiting)
        await client.bgapi(f"uuid_kill {second}")
        await eventually(lambda: bool(published.of("call.ended", waiting)), within=10)
        await eventually(
            lambda: ring_again.data.agent_leg_uuid in seen.hung_up,  # type: ignore[attr-defined]
            within=10,
        )
        problems = list(instance.service.runtime.recent_problems)
    assert "-ERR No such channel!" in seen.job_replies  # the race happened
    # The first leg was hung up by routing, long before its own originate_timeout.
    assert seen.hung_up[leg] - seen.hung_up[caller] < 10
    assert seen.overlapping_legs(answered=False) == []  # carol never rang for two at once
    assert len(seen.agent_legs["carol"]) == 2
    assert len(published.of("call.agent_offered")) == 2
    assert published.of("call.agent_missed") == []  # cancels of ours cost carol nothing
    assert outcome(published, caller) == ["abandoned"]
    assert outcome(published, waiting) == ["abandoned"]
    assert len(published.of("call.abandoned")) == 2
    assert not [p for p in problems if p.startswith("agent_leg_unconfirmed")]


def slow_to_create_agent_legs(instance: Any, *, then: Callable[[str], Awaitable[None]]) -> None:
    """Have every agent originate routing sends wait 1,000 ticks before its leg exists, and
    run ``then(caller's call id)`` as soon as it is sent."""
    client = instance.service.runtime._esl
    send = client.bgapi

    async def bgapi(line: str, **options: Any) -> Any:
        if not (line.startswith("originate {") and "cc_role=agent" in line):
            return await send(line, **options)
        line = line.replace("originate {", "originate {originate_delay_start=1000,", 1)
        job = await send(line, **options)
        await then(line.split(f"{VAR_CALL}=", 1)[1].split(",", 1)[0])
        return job

    client.bgapi = bgapi


async def test_the_switch_sends_routing_only_the_channels_it_routes(
    setup: tuple[SwitchUnderTest, Any, Published],
) -> None:
    """FreeSWITCH filters routing's events: a channel without cc_queue or cc_role never reaches
    it, while the caller, both halves of the agent's loopback and the bgapi results still do."""
    switch, settings, published = setup
    async with watch(switch.endpoint) as (client, seen), routing(settings) as first:
        heard: list[EslEvent] = []
        first.service.events.on("*", heard.append)  # type: ignore[union-attr]
        await configure(first.api, {"alice": AGENT_AT_ONCE})
        bystander = str(uuid.uuid4())
        await client.bgapi(
            f"originate {{origination_uuid={bystander}}}loopback/7101/default &park()"
        )
        leg = await call_in(client)
        await eventually(lambda: bool(seen.callers), within=10)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=10)
        await client.bgapi(f"uuid_kill {bystander}")
        await client.bgapi(f"uuid_kill {leg}")
        await eventually(lambda: bool(published.of("call.ended", caller)), within=10)
        await eventually(lambda: bystander in seen.hung_up and leg in seen.hung_up, within=10)
    assert outcome(published, caller) == ["answered"]
    assert "CHANNEL_ANSWER" in seen.events[bystander]  # the switch did send its events
    assert "CHANNEL_ANSWER" in seen.events[leg]
    heard_legs = {event.unique_id for event in heard}
    assert caller in heard_legs
    assert bystander not in heard_legs
    assert leg not in heard_legs  # the caller's own loopback half carries no cc_queue
    agent_halves = {e.unique_id for e in heard if e.variable("cc_role") == "agent"}
    assert len(agent_halves) == 2
    assert any(event.name == "BACKGROUND_JOB" for event in heard)
    assert all(
        event.name == "BACKGROUND_JOB" or event.variable("cc_queue") or event.variable("cc_role")
        for event in heard
    )
