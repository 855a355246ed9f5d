"""A restarted core rebuilds its queues from channel variables and agent rows, losing nothing."""

from __future__ import annotations

import random
import uuid

import pytest

from cc_proto.events import (
    AgentState,
    AgentStateChanged,
    CallAgentMissed,
    CallAnswered,
    CallEnded,
    CallOutcome,
)
from cc_routing.core import (
    Acd,
    BridgeCall,
    CancelOffer,
    Command,
    OfferCall,
    ParkedCall,
    PublishEvent,
    QueueConfig,
    RoutingError,
    SetCallVariables,
)
from cc_routing.core.testing import agent, answer, build, caller_left, events, of_type

Q = "support"


def test_channel_variables_read_into_a_parked_call() -> None:
    parked = ParkedCall.from_variables(
        "u1",
        {
            "cc_queue": " support ",
            "cc_priority": "7",
            "cc_enqueued_at": "1700000000.25",
            "cc_skills": 'language == "fr"',
            "cc_customer_id": "cust-9",
            "caller_id_number": "+33100",
            "destination_number": "3000",
        },
    )
    assert parked == ParkedCall(
        "u1", "support", 7, 1700000000.25, 'language == "fr"', "+33100", "3000", "cust-9"
    )
    assert ParkedCall.from_variables("u2", {"cc_queue": "q"}) == ParkedCall("u2", "q")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "cc_queue is missing"),
        ({"cc_queue": "q", "cc_priority": "high"}, "cc_priority='high' is not an integer"),
        ({"cc_queue": "q", "cc_enqueued_at": "yesterday"}, "is not epoch seconds"),
        ({"cc_queue": "q", "cc_enqueued_at": "inf"}, "is not epoch seconds"),
    ],
)
def test_bad_channel_variables_are_named(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParkedCall.from_variables("u1", variables)


def channel_variables(out: list[Command], into: dict[str, dict[str, str]]) -> None:
    """Keep what FreeSWITCH would hold on each channel after these commands."""
    for command in of_type(out, SetCallVariables):
        into.setdefault(command.call_id, {}).update(dict(command.variables))


def test_a_restart_keeps_every_waiting_caller_in_place() -> None:
    channels: dict[str, dict[str, str]] = {}
    before = build([QueueConfig(Q)], [agent("a1", Q), agent("a2", Q)])
    out = before.call_arrived(ParkedCall("talking", Q), 0.0)
    channel_variables(out, channels)
    (offer,) = of_type(out, OfferCall)
    channel_variables(answer(before, offer.offer_id, 1.0), channels)
    before.set_break("a2", "lunch", 1.0)
    for number, priority in enumerate([0, 3, 0, 3, 0]):
        channel_variables(
            before.call_arrived(ParkedCall(f"c{number}", Q, priority=priority), 2.0 + number),
            channels,
        )
    expected = {f"c{n}": before.call_view(f"c{n}").position for n in range(5)}  # type: ignore[union-attr]

    after = Acd(rng=random.Random(1))
    after.configure_queue(QueueConfig(Q), 50.0)
    after.restore_agent(agent("a1", Q), state=AgentState.AVAILABLE, since=1.0, now=50.0)
    after.restore_agent(agent("a2", Q), state=AgentState.BREAK, since=1.0, reason="lunch", now=50.0)
    order = list(channels)
    random.Random(5).shuffle(order)  # `show channels` promises no order
    published: list[Command] = []
    for call_id in order:
        parked = ParkedCall.from_variables(call_id, channels[call_id])
        variables = channels[call_id]
        if "cc_agent" in variables:
            published += after.restore_call(
                parked,
                50.0,
                answered_by=variables["cc_agent"],
                agent_leg=variables["cc_agent_leg"],
                answered_at=float(variables["cc_answered_at"]),
            )
        else:
            published += after.restore_call(parked, 50.0)
    assert of_type(published, PublishEvent) == []  # nothing is announced twice
    assert {f"c{n}": after.call_view(f"c{n}").position for n in range(5)} == expected  # type: ignore[union-attr]
    assert after.agent_view("a1").state == "on_call"
    view = after.call_view("c0")
    assert view is not None
    assert view.enqueued_at == 2.0

    assert of_type(after.resume(51.0), OfferCall) == []  # a1 still talks, a2 still at lunch
    out = caller_left(after, "talking", 60.0)
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.talk_seconds) == (CallOutcome.ANSWERED, 59.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["c1"]  # priority 3, first in


def test_resume_offers_waiting_calls_to_available_agents() -> None:
    after = Acd()
    after.configure_queue(QueueConfig(Q), 10.0)
    after.restore_call(ParkedCall("c1", Q, enqueued_at=5.0), 10.0)
    after.restore_agent(agent("a1", Q), state=AgentState.RESERVED, since=4.0, now=10.0)
    assert after.agent_view("a1").state == "available"  # its ringing died with the old process
    out = after.resume(11.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["c1"]
    (offer,) = of_type(out, OfferCall)
    bridge = of_type(answer(after, offer.offer_id, 12.0), BridgeCall)
    assert bridge == [BridgeCall("c1", offer.offer_id, "a1")]


def test_restored_deadlines_count_from_the_original_entry() -> None:
    after = Acd()
    after.configure_queue(QueueConfig(Q, max_wait_seconds=60), 100.0)
    after.restore_call(ParkedCall("c1", Q, enqueued_at=30.0), 100.0)
    out = after.advance(100.0)
    (ended,) = events(out, CallEnded)
    assert ended.outcome is CallOutcome.OVERFLOWED
    assert out[0].at == 100.0  # type: ignore[union-attr]


def test_restored_wrap_up_ends_on_time() -> None:
    after = Acd()
    after.configure_queue(QueueConfig(Q), 0.0)
    after.restore_agent(
        agent("a1", Q), state=AgentState.WRAP_UP, since=0.0, wrap_until=20.0, now=5.0
    )
    assert after.advance(19.9) == []
    out = after.advance(20.0)
    assert [e.to_state for e in events(out, AgentStateChanged)] == [AgentState.AVAILABLE]


def test_an_on_call_agent_is_restored_through_the_call() -> None:
    after = Acd()
    with pytest.raises(RoutingError, match="restore_call"):
        after.restore_agent(agent("a1", Q), state=AgentState.ON_CALL, since=0.0, now=1.0)


def test_a_restored_call_for_a_vanished_queue_goes_to_the_fallback() -> None:
    after = Acd()
    out = after.restore_call(ParkedCall("c1", "gone", enqueued_at=1.0), 5.0)
    assert events(out, CallEnded)[0].outcome is CallOutcome.BLOCKED


def test_every_acd_names_its_agent_legs_with_fresh_uuid4s() -> None:
    # The same uuids in every process let a restarted instance reuse a live leg's uuid.
    legs = []
    for _ in range(2):
        acd = Acd()
        acd.configure_queue(QueueConfig(Q), 0.0)
        acd.upsert_agent(agent("a1", Q), 0.0)
        acd.login("a1", 0.0)
        (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 1.0), OfferCall)
        legs.append(offer.offer_id)
    assert legs[0] != legs[1]
    assert all(uuid.UUID(leg).version == 4 for leg in legs)
    seeded = [Acd(rng=random.Random(3)), Acd(rng=random.Random(3))]
    for acd in seeded:
        acd.configure_queue(QueueConfig(Q), 0.0)
        acd.upsert_agent(agent("a1", Q), 0.0)
        acd.login("a1", 0.0)
    offers = [of_type(a.call_arrived(ParkedCall("c1", Q), 1.0), OfferCall)[0] for a in seeded]
    assert offers[0].offer_id == offers[1].offer_id  # simulations stay reproducible


def test_a_call_restored_while_its_bridge_was_pending_is_answered_from_the_pick_up() -> None:
    after = Acd()
    after.configure_queue(QueueConfig(Q), 100.0)
    after.restore_agent(agent("a1", Q), state=AgentState.RESERVED, since=10.0, now=100.0)
    after.restore_call(
        ParkedCall("c1", Q, enqueued_at=5.0), 100.0, bridging_to="a1", agent_leg="leg-1",
        answered_at=12.0,
    )  # fmt: skip
    assert after.agent_view("a1").state == "reserved"
    assert of_type(after.resume(100.0), OfferCall) == []  # nobody else is rung for it
    out = after.call_bridged("c1", 100.0, bridged_at=12.0)
    (answered,) = events(out, CallAnswered)
    assert answered.wait_seconds == 7.0
    assert after.agent_view("a1").state == "on_call"
    (ended,) = events(after.caller_hung_up("c1", 112.0), CallEnded)
    assert (ended.outcome, ended.talk_seconds) == (CallOutcome.ANSWERED, 100.0)


def test_wrap_up_end_and_callback_skills_are_in_the_views_a_restart_stores() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q, wrap_up_seconds=30.0)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 1.0), OfferCall)
    answer(acd, offer.offer_id, 2.0)
    acd.call_bridged("c1", 2.0)
    acd.caller_hung_up("c1", 10.0)
    assert acd.agent_view("a1").wrap_until == 40.0
    acd.call_arrived(ParkedCall("c2", Q, skills="billing"), 11.0)  # a1 is in wrap-up
    acd.request_callback("c2", "+4930999", 12.0)
    view = acd.call_view("c2")
    assert view is not None
    assert view.skills == "billing"


def test_a_stopping_core_offers_nothing_new_and_cancels_its_rings_at_no_cost() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q), agent("a2", Q)])
    (first,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 1.0), OfferCall)
    acd.hold_offers()
    assert of_type(acd.call_arrived(ParkedCall("c2", Q), 2.0), OfferCall) == []
    # a1 misses: nobody is rung again by this instance, the call waits for the next one.
    assert of_type(acd.offer_failed(first.offer_id, "NO_ANSWER", 3.0), OfferCall) == []
    assert acd.ringing_offers() == []
    acd2 = build([QueueConfig(Q)], [agent("a1", Q)])
    (ring,) = of_type(acd2.call_arrived(ParkedCall("c1", Q), 1.0), OfferCall)
    acd2.hold_offers()
    out = acd2.stop_ringing(2.0)
    assert [c.offer_id for c in of_type(out, CancelOffer)] == [ring.offer_id]
    assert events(out, CallAgentMissed) == []
    assert acd2.call_view("c1").status == "waiting"  # type: ignore[union-attr]
    assert acd2.agent_view("a1").state == "available"
