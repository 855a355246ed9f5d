"""Click-to-call and blind transfer to an agent in the core: one agent only, never anyone else."""

from __future__ import annotations

import pytest

from cc_proto.events import (
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOutcome,
    CallPlaced,
    CallTransferred,
)
from cc_routing.core import (
    BridgeCall,
    CancelOffer,
    DialCustomer,
    OfferCall,
    ParkCaller,
    ParkedCall,
    QueueConfig,
    RoutingError,
)
from cc_routing.core.testing import agent, answer, build, events, of_type

Q = "support"
NUMBER = "+33612345678"


def test_click_to_call_rings_the_agent_then_dials_the_customer_and_keeps_the_agent_busy() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=10)], [agent("a1", Q), agent("a2", Q)])
    call_id = acd.new_call_id()
    out = acd.place_call(call_id, "a1", NUMBER, Q, 0.0, customer_id="CRM-42")
    (placed,) = events(out, CallPlaced)
    assert (placed.direction, placed.dialed_number, placed.customer_id) == (
        "outbound",
        NUMBER,
        "CRM-42",
    )
    (ring,) = of_type(out, OfferCall)
    assert (ring.call_id, ring.agent_id, ring.caller_number) == (call_id, "a1", NUMBER)
    assert acd.agent_view("a1").state == "reserved"
    # An inbound call meanwhile goes to the other agent, never to a1.
    (inbound,) = of_type(acd.call_arrived(ParkedCall("in1", Q), 1.0), OfferCall)
    assert inbound.agent_id == "a2"
    out = acd.agent_answered(ring.offer_id, 2.0)
    (dial,) = of_type(out, DialCustomer)
    assert (dial.call_id, dial.number, dial.offer_id) == (call_id, NUMBER, ring.offer_id)
    assert events(out, CallAnswered) == []  # not before the customer picks up
    out = acd.customer_answered(call_id, 5.0)
    assert of_type(out, BridgeCall) == [BridgeCall(call_id, ring.offer_id, "a1")]
    (answered,) = events(out, CallAnswered)
    assert answered.queue_answer is False  # the agent's answer, not the queue's
    view = acd.call_view(call_id)
    assert view is not None
    assert (view.status, view.direction, view.dialed_number, view.customer_id) == (
        "connected",
        "outbound",
        NUMBER,
        "CRM-42",
    )
    assert acd.queue_status(Q).calls == 1  # only the inbound caller; the placed call never queues
    (ended,) = events(acd.caller_hung_up(call_id, 65.0), CallEnded)
    assert (ended.outcome, ended.talk_seconds, ended.hangup_by) == (
        CallOutcome.ANSWERED,
        60.0,
        "caller",
    )
    assert acd.agent_view("a1").state == "wrap_up"


def test_click_to_call_refuses_an_agent_who_is_not_available_with_the_reason() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q), agent("a2", Q)])
    acd.set_break("a2", "lunch", 0.0)
    with pytest.raises(RoutingError, match="not available \\(break\\)"):
        acd.place_call(acd.new_call_id(), "a2", NUMBER, Q, 1.0)
    acd.place_call(acd.new_call_id(), "a1", NUMBER, Q, 1.0)
    with pytest.raises(RoutingError, match="not available \\(reserved\\)"):
        acd.place_call(acd.new_call_id(), "a1", NUMBER, Q, 2.0)
    with pytest.raises(RoutingError, match="no queue"):
        acd.place_call(acd.new_call_id(), "a2", NUMBER, "nowhere", 2.0)


def test_a_click_to_call_the_agent_does_not_answer_ends_failed_and_is_offered_to_nobody() -> None:
    acd = build([QueueConfig(Q, ring_timeout_seconds=10)], [agent("a1", Q), agent("a2", Q)])
    call_id = acd.new_call_id()
    acd.place_call(call_id, "a1", NUMBER, Q, 0.0)
    out = acd.advance(11.0)
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_cause) == (CallOutcome.FAILED, "NO_ANSWER")
    assert of_type(out, OfferCall) == []  # a2 is never rung for a1's own call
    assert not acd.holds_call(call_id)
    assert acd.agent_view("a2").state == "available"


def test_an_unreachable_number_ends_the_click_to_call_at_once_and_frees_the_agent() -> None:
    acd = build([QueueConfig(Q, callback_max_attempts=3)], [agent("a1", Q), agent("a2", Q)])
    call_id = acd.new_call_id()
    (ring,) = of_type(acd.place_call(call_id, "a1", NUMBER, Q, 0.0), OfferCall)
    acd.agent_answered(ring.offer_id, 1.0)
    out = acd.customer_unreachable(call_id, "USER_BUSY", 3.0)
    assert of_type(out, CancelOffer)[0].offer_id == ring.offer_id  # the agent's leg is hung up
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_cause) == (CallOutcome.FAILED, "USER_BUSY")
    assert not acd.holds_call(call_id)  # never retried, never offered to a2
    assert of_type(acd.advance(600.0), OfferCall) == []
    assert acd.agent_view("a1").state == "available"


def test_hanging_up_a_click_to_call_while_the_agent_rings_stops_the_ring() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    call_id = acd.new_call_id()
    (ring,) = of_type(acd.place_call(call_id, "a1", NUMBER, Q, 0.0), OfferCall)
    out = acd.hang_up(call_id, "NORMAL_CLEARING", 1.0)
    assert [c.offer_id for c in of_type(out, CancelOffer)] == [ring.offer_id]
    (ended,) = events(out, CallEnded)
    assert ended.outcome is CallOutcome.FAILED
    assert acd.agent_view("a1").state == "available"


def test_a_click_to_call_is_transferred_to_a_number_but_not_to_a_queue_or_agent() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q), agent("a2", Q)])
    call_id = acd.new_call_id()
    (ring,) = of_type(acd.place_call(call_id, "a1", NUMBER, Q, 0.0), OfferCall)
    acd.agent_answered(ring.offer_id, 1.0)
    acd.customer_answered(call_id, 2.0)
    with pytest.raises(RoutingError, match="click-to-call"):
        acd.transfer_to_queue(call_id, Q, 3.0)
    with pytest.raises(RoutingError, match="click-to-call"):
        acd.transfer_to_agent(call_id, "a2", 3.0)
    (ended,) = events(acd.transfer_to_number(call_id, "+4930123456", 4.0), CallEnded)
    assert ended.outcome is CallOutcome.TRANSFERRED_OUT


def test_a_blind_transfer_to_an_agent_rings_only_that_agent_and_the_answer_is_not_the_queues() -> (
    None
):
    acd = build(
        [QueueConfig(Q, wrap_up_seconds=10)],
        [agent("a1", Q), agent("b1", Q), agent("c1", Q)],
    )
    (offer,) = of_type(acd.call_arrived(ParkedCall("x", Q), 0.0), OfferCall)
    first = offer.agent_id
    others = sorted({"a1", "b1", "c1"} - {first})
    answer(acd, offer.offer_id, 1.0)
    out = acd.transfer_to_agent("x", others[0], 5.0)
    (moved,) = events(out, CallTransferred)
    assert (moved.target_kind, moved.target) == ("agent", others[0])
    assert of_type(out, ParkCaller) == [ParkCaller("x", "transferred")]
    (ring,) = of_type(out, OfferCall)
    assert ring.agent_id == others[0]
    assert events(out, CallOffered) == []  # not a new arrival: it is not in the line
    assert acd.agent_view(first).state == "wrap_up"
    out = answer(acd, ring.offer_id, 7.0)
    (answered,) = events(out, CallAnswered)
    assert answered.queue_answer is False
    assert acd.agent_view(others[0]).state == "on_call"
    (ended,) = events(acd.caller_hung_up("x", 10.0), CallEnded)
    assert (ended.outcome, ended.talk_seconds) == (CallOutcome.ANSWERED, 3.0)


def test_a_transfer_to_an_agent_who_is_busy_is_refused_and_changes_nothing() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q), agent("b1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("x", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    other = "b1" if offer.agent_id == "a1" else "a1"
    acd.set_not_ready(other, "training", 2.0)
    with pytest.raises(RoutingError, match="not available \\(not_ready\\)"):
        acd.transfer_to_agent("x", other, 3.0)
    with pytest.raises(RoutingError, match="already with"):
        acd.transfer_to_agent("x", offer.agent_id, 3.0)
    view = acd.call_view("x")
    assert view is not None
    assert (view.status, view.agent_id) == ("connected", offer.agent_id)


def test_a_transfer_the_agent_does_not_answer_puts_the_caller_back_in_the_queue() -> None:
    acd = build(
        [QueueConfig(Q, ring_timeout_seconds=10, wrap_up_seconds=60)],
        [agent(name, Q, no_answer_delay_seconds=30) for name in ("a1", "b1")],
    )
    (offer,) = of_type(acd.call_arrived(ParkedCall("x", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    other = "b1" if offer.agent_id == "a1" else "a1"
    acd.transfer_to_agent("x", other, 5.0)
    out = acd.advance(16.0)  # the ring times out
    assert [e.queue for e in events(out, CallOffered)] == [Q]  # back in the queue, a new arrival
    assert events(out, CallEnded) == []
    view = acd.call_view("x")
    assert view is not None
    assert (view.status, view.position) == ("waiting", 1)
    # Served as any waiting caller: the agent who missed it, once their no-answer delay is over.
    offers = of_type(acd.advance(46.0), OfferCall)
    assert [o.agent_id for o in offers] == [other]


def test_nothing_is_placed_while_routing_hands_over_to_another_instance() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    acd.hold_offers()
    with pytest.raises(RoutingError, match="handing over"):
        acd.place_call(acd.new_call_id(), "a1", NUMBER, Q, 1.0)
    assert acd.agent_view("a1").state == "available"
