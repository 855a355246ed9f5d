"""CTI control through routing's API, on the simulator and (CC_TEST_FREESWITCH) the real switch.

A CRM's command reaches FreeSWITCH only through routing (bgapi on routing's connection); what
happens next is learnt from the switch's own events, exactly as for a caller's own action.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from cc_common.esl import InboundClient
from cc_common.testing import eventually
from cc_routing.testing import (
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


async def test_hanging_up_an_answered_call_ends_it_and_frees_the_agent_into_wrap_up(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = routed_switch
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


async def test_a_blind_transfer_to_a_number_hands_the_caller_to_the_dialplan(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = routed_switch
    # The number is reached through the transfer context: here 7303 (answer, park).
    settings = settings.model_copy(update={"routing_transfer_context": "default"})
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE}, wrap_up=60)
        await call_in(client)
        await eventually(lambda: bool(seen.callers), within=15)
        caller = seen.callers[0]
        waiting = await instance.api.post(
            f"/v1/calls/{caller}/transfer", json={"target_kind": "number", "target": "7303"}
        )
        await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
        if waiting.status_code != 202:  # asked before the answer: not a conversation yet
            assert waiting.status_code == 409, waiting.text
        unsafe = await instance.api.post(
            f"/v1/calls/{caller}/transfer",
            json={"target_kind": "number", "target": "7303&user/1000"},
        )
        assert unsafe.status_code == 422  # never a dial string on the ESL line
        reply = await instance.api.post(
            f"/v1/calls/{caller}/transfer", json={"target_kind": "number", "target": "7303"}
        )
        assert reply.status_code == 202, reply.text
        agent_leg = seen.agent_answers[0]
        await eventually(lambda: agent_leg in seen.hung_up, within=15)  # out of the bridge
        await eventually(lambda: seen.events[caller].count("CHANNEL_PARK") >= 2, within=15)
        assert (await client.api(f"uuid_getvar {caller} cc_queue")).text.strip() == "_undef_"
        assert caller not in seen.hung_up  # the caller is the dialplan's now, still on the line
        alice = (await instance.api.get("/v1/agents/alice")).json()
        assert (alice["state"], alice["call_id"]) == ("wrap_up", None)
        assert not instance.service.runtime.acd.holds_call(caller)
        assert list(instance.service.runtime.recent_problems) == []
    [moved] = published.of("call.transferred", caller)
    assert (moved.data.target_kind, moved.data.target) == ("number", "7303")  # type: ignore[attr-defined]
    [ended] = published.of("call.ended", caller)
    assert ended.data.outcome.value == "transferred_out"  # type: ignore[attr-defined]
    assert ended.data.hangup_by == "agent"  # type: ignore[attr-defined]


async def test_a_blind_transfer_to_a_queue_queues_the_caller_again_for_another_agent(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = routed_switch
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE}, wrap_up=60)
        billing = {"name": "billing", "ring_timeout_seconds": 8, "wrap_up_seconds": 60}
        assert (await instance.api.put("/v1/queues/billing", json=billing)).status_code == 200
        bob = {"agent_id": "bob", "contact": AGENT_AT_ONCE, "tiers": {"billing": {}}}
        assert (await instance.api.put("/v1/agents/bob", json=bob)).status_code == 200
        assert (await instance.api.post("/v1/agents/bob/login", json={})).status_code == 200
        await call_in(client)
        await eventually(lambda: bool(seen.callers), within=15)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
        nowhere = await instance.api.post(
            f"/v1/calls/{caller}/transfer", json={"target_kind": "queue", "target": "nowhere"}
        )
        assert nowhere.status_code == 404
        reply = await instance.api.post(
            f"/v1/calls/{caller}/transfer", json={"target_kind": "queue", "target": "billing"}
        )
        assert reply.status_code == 202, reply.text
        await eventually(lambda: len(published.of("call.answered", caller)) == 2, within=20)
        bob_now = (await instance.api.get("/v1/agents/bob")).json()
        assert (bob_now["state"], bob_now["call_id"]) == ("on_call", caller)
        alice = (await instance.api.get("/v1/agents/alice")).json()
        assert (alice["state"], alice["call_id"]) == ("wrap_up", None)
        first_leg = seen.agent_answers[0]
        assert first_leg in seen.hung_up  # alice's leg ended with her part of the call
        assert caller not in seen.hung_up
        assert len(seen.agent_answers) == 2
        assert list(instance.service.runtime.recent_problems) == []
        await client.bgapi(f"uuid_kill {caller}")
        await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
    [moved] = published.of("call.transferred", caller)
    assert (moved.data.target_kind, moved.data.target) == ("queue", "billing")  # type: ignore[attr-defined]
    assert moved.agent_id == "alice"
    offered = [e.data.queue for e in published.of("call.offered", caller)]  # type: ignore[attr-defined]
    assert offered == ["support", "billing"]
    [ended] = published.of("call.ended", caller)
    assert (ended.data.outcome.value, ended.agent_id) == ("answered", "bob")  # type: ignore[attr-defined]


def sip_agent_phone(switch: SwitchUnderTest) -> str:
    """A SIP agent phone that answers at once: on the simulator a registered ``user/1001``; on
    the real switch a SIP call to its own external profile, extension 7303 (hold needs a SIP
    leg: it is a re-INVITE to the phone, which a loopback leg has none of)."""
    if switch.simulator is not None:
        switch.simulator.register_agent("1001", answer_delay=(0.2, 0.3))
        return "user/1001"
    return f"sofia/internal/7303@127.0.0.1:{switch.endpoint.sip_ext_port}"


async def sip_call_in(client: InboundClient, switch: SwitchUnderTest) -> None:
    """Place a caller: on the real switch over SIP (a carrier's call is a SIP leg, and the
    music on hold FreeSWITCH plays to it is what the test listens for), else as call_in."""
    if switch.real is None:
        await call_in(client)
        return
    target = f"sofia/internal/7200@127.0.0.1:{switch.endpoint.sip_ext_port}"
    await client.bgapi(f"originate {{origination_caller_id_number=4930111}}{target} &park()")


async def call_state(client: InboundClient, leg: str) -> str:
    """Return the leg's call state as the switch's own ``uuid_dump`` reports it."""
    dump = (await client.api(f"uuid_dump {leg} json")).text
    state: str = json.loads(dump)["Channel-Call-State"]
    return state


async def settled_call_state(
    client: InboundClient, leg: str, expected: str, within: float = 15.0
) -> str:
    """Return the leg's call state once it is ``expected`` (or the last seen, after ``within``):
    after ``uuid_hold off`` FreeSWITCH's media thread sets ACTIVE before or after CHANNEL_UNHOLD
    (the simulator's ``unhold-race``), so a state read at the event may still be UNHELD."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    state = await call_state(client, leg)
    while state != expected and loop.time() < deadline:
        await asyncio.sleep(0.05)
        state = await call_state(client, leg)
    return state


HOLD_EVENTS = ("CHANNEL_HOLD", "CHANNEL_UNHOLD", "PLAYBACK_START", "PLAYBACK_STOP")


async def test_hold_and_resume_on_a_sip_agent_leg(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    await hold_and_resume(routed_switch, early_hold=False)


async def test_a_hold_right_after_the_answer_leaves_no_music_over_the_conversation(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    # A CRM's hold pressed as the call pops, before the bridge has had media: on the real switch
    # its music is queued until the resume and then played over the conversation, unless the
    # resume cancels it. The next hold must still play its music, once, and stop at its resume.
    await hold_and_resume(routed_switch, early_hold=True)


MUSIC = "local_stream://moh"


async def hold_and_resume(
    routed_switch: tuple[SwitchUnderTest, Any, Published], *, early_hold: bool
) -> None:
    """Hold then resume an answered SIP call: music to the caller while held, never after."""
    switch, settings, published = routed_switch
    holds: list[tuple[str, str, str | None]] = []
    endpoint = switch.endpoint
    async with (
        watch(endpoint) as (client, seen),
        InboundClient(endpoint.host, endpoint.esl_port, endpoint.password) as hold_log,
        routing(settings) as instance,
    ):
        hold_log.on(
            "*", lambda e: holds.append((e.name, e.unique_id or "", e.get("Playback-File-Path")))
        )
        await hold_log.events("plain", *HOLD_EVENTS)
        await configure(instance.api, {"alice": sip_agent_phone(switch)})
        await sip_call_in(client, switch)
        await eventually(lambda: bool(seen.callers), within=15)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
        [answered] = published.of("call.answered", caller)
        agent_leg = answered.data.agent_leg_uuid  # type: ignore[attr-defined]
        music = ("PLAYBACK_START", caller, MUSIC)
        early_at = len(holds)  # the queue's own music (while waiting) played before this
        if early_hold:
            assert (await instance.api.post(f"/v1/calls/{caller}/hold")).status_code == 202
            await eventually(lambda: ("CHANNEL_HOLD", agent_leg, None) in holds, within=15)
            assert (await instance.api.post(f"/v1/calls/{caller}/resume")).status_code == 202
            await eventually(lambda: ("CHANNEL_UNHOLD", agent_leg, None) in holds, within=15)
            early_at = holds.index(("CHANNEL_UNHOLD", agent_leg, None))
            await eventually(lambda: len(published.of("call.resumed", caller)) == 1, within=15)
        await eventually(lambda: any(caller in pair for pair in seen.bridges), within=15)
        # FreeSWITCH's bridge runs a broadcast (the hold music) only once media has flowed
        # (its lead frames): an agent talks a moment before a hold, and so does this test.
        await asyncio.sleep(1)
        held_at = len(holds)
        assert (await instance.api.post(f"/v1/calls/{caller}/resume")).status_code == 409
        assert (await instance.api.post(f"/v1/calls/{caller}/hold")).status_code == 202
        await eventually(lambda: ("CHANNEL_HOLD", agent_leg, None) in holds[held_at:], within=15)
        assert await call_state(client, agent_leg) == "HELD"
        await eventually(lambda: music in holds[held_at:], within=15)  # the caller hears it
        assert (await instance.api.post(f"/v1/calls/{caller}/hold")).status_code == 409
        resumes = 2 if early_hold else 1
        await eventually(lambda: len(published.of("call.held", caller)) == resumes, within=15)
        assert (await instance.api.post(f"/v1/calls/{caller}/resume")).status_code == 202
        unhold = ("CHANNEL_UNHOLD", agent_leg, None)
        await eventually(lambda: unhold in holds[held_at:], within=15)
        stopped = ("PLAYBACK_STOP", caller, MUSIC)
        await eventually(lambda: stopped in holds[held_at:], within=15)  # and no longer
        resumed_at = len(holds)
        await eventually(lambda: len(published.of("call.resumed", caller)) == resumes, within=15)
        assert await settled_call_state(client, agent_leg, "ACTIVE") == "ACTIVE"
        bridged = (await client.api(f"uuid_getvar {agent_leg} bridge_uuid")).text.strip()
        assert bridged == caller  # still talking to the caller after the hold
        assert caller not in seen.hung_up
        assert agent_leg not in seen.hung_up
        view = (await instance.api.get(f"/v1/calls/{caller}")).json()
        assert (view["status"], view["agent_id"]) == ("connected", "alice")
        assert (await instance.api.post(f"/v1/calls/{caller}/hangup", json={})).status_code == 202
        await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
        assert list(instance.service.runtime.recent_problems) == []
    assert music not in holds[early_at:held_at]  # nothing over the talk after an early resume
    assert holds[held_at:].count(music) == 1  # played once, for the hold only
    assert music not in holds[resumed_at:]  # never over the conversation after the resume
    held = [resumed.data.hold_seconds for resumed in published.of("call.resumed", caller)]  # type: ignore[attr-defined]
    [ended] = published.of("call.ended", caller)
    assert all(seconds > 0 for seconds in held)
    assert ended.data.hold_seconds == pytest.approx(sum(held))  # type: ignore[attr-defined]
    events = published.by_call[caller]
    assert events.index("call.held") < events.index("call.resumed") < events.index("call.ended")


async def answered_with_a_free_agent(
    instance: Any, client: InboundClient, seen: Any, published: Published, agent: str, contact: str
) -> str:
    """Log in ``agent`` (in no queue), then let a caller be answered by alice: return it."""
    body = {"agent_id": agent, "contact": contact, "tiers": {}}
    assert (await instance.api.put(f"/v1/agents/{agent}", json=body)).status_code == 200
    assert (await instance.api.post(f"/v1/agents/{agent}/login", json={})).status_code == 200
    await call_in(client)
    await eventually(lambda: bool(seen.callers), within=15)
    caller: str = seen.callers[0]
    await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
    return caller


CUSTOMER = "+33142687303"
"""A customer's E.164 number: the real test switch maps +3314268 73xx to its extension 73xx
(tests/fs-overlay; 7303 answers at once), the simulator's gateway answers any number."""


async def test_click_to_call_rings_the_agent_then_dials_the_customer_and_bridges(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = routed_switch
    dial = "loopback/{number}/default" if switch.real else "sofia/gateway/carrier/{number}"
    settings = settings.model_copy(update={"routing_callback_dial": dial})
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE, "bob": AGENT_AT_ONCE}, wrap_up=60)
        api = instance.api
        body = {"number": CUSTOMER, "queue": "support", "customer_id": "CRM-42"}
        for bad in ("0142687303", "+999123", "+33 1 42 68 73 03&user/1000"):
            refused = await api.post("/v1/agents/alice/calls", json={**body, "number": bad})
            assert refused.status_code == 422, (bad, refused.text)
        unknown = await api.post("/v1/agents/nobody/calls", json=body)
        assert unknown.status_code == 404
        reply = await api.post("/v1/agents/alice/calls", json=body)
        assert reply.status_code == 202, reply.text
        call_id = reply.json()["call_id"]
        assert reply.json()["number"] == CUSTOMER
        busy = await api.post("/v1/agents/alice/calls", json=body)
        assert busy.status_code == 409
        assert "not available" in busy.json()["detail"]
        await eventually(lambda: bool(published.of("call.answered", call_id)), within=20)
        bridged = lambda: any(call_id in pair for pair in seen.bridges)  # noqa: E731
        await eventually(bridged, within=15)  # the switch bridged the customer to alice
        # While alice talks to the customer, an inbound caller goes to bob, never to alice.
        await call_in(client)
        await eventually(lambda: bool(seen.callers), within=15)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
        assert published.of("call.answered", caller)[0].agent_id == "bob"
        view = (await api.get(f"/v1/calls/{call_id}")).json()
        assert (view["status"], view["direction"], view["agent_id"]) == (
            "connected",
            "outbound",
            "alice",
        )
        assert (view["dialed_number"], view["customer_id"]) == (CUSTOMER, "CRM-42")
        hung_up = await api.post(f"/v1/calls/{call_id}/hangup", json={})
        assert hung_up.status_code == 202
        await eventually(lambda: bool(published.of("call.ended", call_id)), within=15)
        alice = (await api.get("/v1/agents/alice")).json()
        assert alice["state"] == "wrap_up"
        assert list(instance.service.runtime.recent_problems) == []
    [placed] = published.of("call.placed", call_id)
    assert (placed.agent_id, placed.data.dialed_number, placed.data.customer_id) == (  # type: ignore[attr-defined]
        "alice",
        CUSTOMER,
        "CRM-42",
    )
    [answered] = published.of("call.answered", call_id)
    assert (answered.agent_id, answered.data.queue_answer) == ("alice", False)  # type: ignore[attr-defined]
    [ended] = published.of("call.ended", call_id)
    assert ended.data.outcome.value == "answered"  # type: ignore[attr-defined]
    assert published.by_call[call_id][0] == "call.placed"
    assert "call.offered" not in published.by_call[call_id]  # never an inbound offer


async def test_a_blind_transfer_to_an_agent_rings_that_agent_only(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = routed_switch
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE}, wrap_up=60)
        api = instance.api
        caller = await answered_with_a_free_agent(
            instance, client, seen, published, "bob", AGENT_AT_ONCE
        )
        to_bob = {"target_kind": "agent", "target": "bob"}
        away = await api.post("/v1/agents/bob/state", json={"state": "break", "reason": "lunch"})
        assert away.status_code == 200
        refused = await api.post(f"/v1/calls/{caller}/transfer", json=to_bob)
        assert refused.status_code == 409
        assert "not available (break)" in refused.json()["detail"]
        nobody = {"target_kind": "agent", "target": "nobody"}
        assert (await api.post(f"/v1/calls/{caller}/transfer", json=nobody)).status_code == 404
        back = await api.post("/v1/agents/bob/state", json={"state": "available"})
        assert back.status_code == 200
        reply = await api.post(f"/v1/calls/{caller}/transfer", json=to_bob)
        assert reply.status_code == 202, reply.text
        await eventually(lambda: len(published.of("call.answered", caller)) == 2, within=20)
        bob_now = (await api.get("/v1/agents/bob")).json()
        assert (bob_now["state"], bob_now["call_id"]) == ("on_call", caller)
        alice = (await api.get("/v1/agents/alice")).json()
        assert alice["state"] == "wrap_up"
        assert seen.agent_answers[0] in seen.hung_up  # alice's leg ended with her part
        assert caller not in seen.hung_up
        await client.bgapi(f"uuid_kill {caller}")
        await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
        assert list(instance.service.runtime.recent_problems) == []
    [moved] = published.of("call.transferred", caller)
    assert (moved.data.target_kind, moved.data.target, moved.agent_id) == ("agent", "bob", "alice")  # type: ignore[attr-defined]
    first, second = published.of("call.answered", caller)
    assert (first.agent_id, first.data.queue_answer) == ("alice", True)  # type: ignore[attr-defined]
    assert (second.agent_id, second.data.queue_answer) == ("bob", False)  # type: ignore[attr-defined]
    assert len(published.of("call.offered", caller)) == 1  # offered to the queue once
    [ended] = published.of("call.ended", caller)
    assert (ended.data.outcome.value, ended.agent_id) == ("answered", "bob")  # type: ignore[attr-defined]


async def test_a_transfer_the_agent_does_not_answer_puts_the_caller_back_in_its_queue(
    routed_switch: tuple[SwitchUnderTest, Any, Published],
) -> None:
    switch, settings, published = routed_switch
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE}, ring_timeout=3, wrap_up=60)
        api = instance.api
        caller = await answered_with_a_free_agent(
            instance, client, seen, published, "carol", AGENT_NEVER
        )
        to_carol = {"target_kind": "agent", "target": "carol"}
        reply = await api.post(f"/v1/calls/{caller}/transfer", json=to_carol)
        assert reply.status_code == 202, reply.text
        await eventually(lambda: bool(published.of("call.agent_missed", caller)), within=20)
        await eventually(lambda: len(published.of("call.offered", caller)) == 2, within=10)
        where = (await api.get(f"/v1/calls/{caller}")).json()
        assert (where["queue"], where["status"], where["position"]) == ("support", "waiting", 1)
        assert caller not in seen.hung_up  # the caller waits on the line
        await client.bgapi(f"uuid_kill {caller}")
        await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
        assert list(instance.service.runtime.recent_problems) == []
    [missed] = published.of("call.agent_missed", caller)
    assert missed.agent_id == "carol"
    assert len(published.of("call.answered", caller)) == 1  # only alice ever answered
