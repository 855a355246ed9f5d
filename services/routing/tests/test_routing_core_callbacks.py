"""Queued callbacks: the caller's place is kept, the agent is reserved, the customer is dialled."""

from __future__ import annotations

import pytest

from cc_proto.events import CallAnswered, CallCallbackRequested, CallEnded, CallOutcome
from cc_routing.core import (
    Acd,
    BridgeCall,
    CancelOffer,
    DialCustomer,
    HangupCall,
    OfferCall,
    ParkedCall,
    QueueConfig,
    ReleaseCaller,
    RoutingError,
)
from cc_routing.core.testing import agent, answer, build, caller_left, events, legs_gone, of_type

Q = "support"


def busy_queue(**queue: object) -> Acd:
    """One agent talking on 't'; c1, c2, c3 waiting (entered at 10, 20, 30)."""
    acd = build([QueueConfig(Q, **queue)], [agent("a1", Q)])  # type: ignore[arg-type]
    (offer,) = of_type(acd.call_arrived(ParkedCall("t", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 0.0)
    for number in (1, 2, 3):
        acd.call_arrived(ParkedCall(f"c{number}", Q), 10.0 * number)
    return acd


def callback_id(acd: Acd, call_id: str) -> str:
    view = acd.call_view(call_id)
    assert view is not None
    assert view.callback_number is not None
    return view.call_id


def test_a_callback_keeps_the_callers_place_and_enqueue_time() -> None:
    acd = busy_queue()
    out = acd.request_callback("c2", "+33123456789", 50.0)
    (requested,) = events(out, CallCallbackRequested)
    assert (requested.position, requested.wait_seconds, requested.callback_number) == (
        2,
        30.0,
        "+33123456789",
    )
    assert of_type(out, ReleaseCaller) == [ReleaseCaller("c2", "callback_requested")]
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_by) == (CallOutcome.CALLBACK, "system")
    view = acd.call_view("c2", 60.0)
    assert view is not None
    assert (view.position, view.enqueued_at, view.status) == (2, 20.0, "waiting")
    assert view.call_id != "c2"
    status = acd.queue_status(Q, 60.0)
    assert (status.waiting, status.callbacks) == (2, 1)
    assert status.oldest_wait_seconds == 50.0  # callbacks are not callers on the line
    assert acd.caller_hung_up("c2", 61.0) == []  # the caller's own hangup is expected now


def test_when_its_turn_comes_the_agent_is_reserved_and_the_customer_dialled() -> None:
    acd = busy_queue(callback_dial_timeout_seconds=25)
    acd.request_callback("c2", "+33123456789", 50.0)
    cb = callback_id(acd, "c2")
    out = caller_left(acd, "t", 60.0)
    (first,) = of_type(out, OfferCall)
    answer(acd, first.offer_id, 60.0)
    assert first.call_id == "c1"
    out = caller_left(acd, "c1", 100.0)
    (offer,) = of_type(out, OfferCall)
    assert (offer.call_id, offer.callback_number, offer.caller_number) == (
        cb,
        "+33123456789",
        "+33123456789",
    )
    out = answer(acd, offer.offer_id, 103.0)
    assert of_type(out, DialCustomer) == [
        DialCustomer(cb, "+33123456789", offer.offer_id, "a1", Q, 25.0)
    ]
    assert acd.agent_view("a1").state == "reserved"
    out = acd.customer_answered(cb, 110.0)
    assert of_type(out, BridgeCall) == [BridgeCall(cb, offer.offer_id, "a1")]
    (answered,) = events(out, CallAnswered)
    assert answered.wait_seconds == 90.0  # from the caller's original entry at 20
    out = acd.caller_hung_up(cb, 200.0)
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.talk_seconds) == (CallOutcome.ANSWERED, 90.0)
    assert acd.call_view("c2") is None


def test_an_unreachable_customer_is_retried_in_place_then_given_up() -> None:
    acd = build(
        [QueueConfig(Q, callback_retry_seconds=60, callback_max_attempts=2)], [agent("a1", Q)]
    )
    acd.set_break("a1", "x", 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    acd.request_callback("c1", "555", 5.0)
    cb = callback_id(acd, "c1")
    (offer,) = of_type(acd.set_available("a1", 10.0), OfferCall)
    answer(acd, offer.offer_id, 11.0)
    out = acd.customer_unreachable(cb, "NO_ANSWER", 40.0)
    assert of_type(out, CancelOffer) == [CancelOffer(offer.offer_id, cb, "a1", "callback_failed")]
    assert acd.agent_view("a1").state == "available"
    assert acd.agent_view("a1").no_answer_count == 0  # not the agent's fault
    assert of_type(out, OfferCall) == []  # not before the retry delay
    out = acd.advance(100.0)
    (again,) = of_type(out, OfferCall)
    answer(acd, again.offer_id, 101.0)
    out = acd.customer_unreachable(cb, "USER_BUSY", 120.0)
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_cause) == (CallOutcome.FAILED, "USER_BUSY")
    assert acd.queue_status(Q).calls == 0


def test_silence_from_the_switch_ends_the_dial_attempt() -> None:
    acd = build([QueueConfig(Q, callback_dial_timeout_seconds=30)], [agent("a1", Q)])
    acd.set_break("a1", "x", 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    acd.request_callback("c1", "555", 5.0)
    (offer,) = of_type(acd.set_available("a1", 10.0), OfferCall)
    answer(acd, offer.offer_id, 10.0)
    assert acd.advance(44.9) == []
    out = acd.advance(45.0)
    assert [c.reason for c in of_type(out, CancelOffer)] == ["callback_failed"]


def test_the_agent_hanging_up_while_dialling_cancels_the_customer_leg() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    acd.set_break("a1", "x", 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    acd.request_callback("c1", "555", 5.0)
    cb = callback_id(acd, "c1")
    (offer,) = of_type(acd.set_available("a1", 10.0), OfferCall)
    answer(acd, offer.offer_id, 10.0)
    out = acd.agent_hung_up(offer.offer_id, 12.0)
    assert of_type(out, HangupCall) == [HangupCall(cb, "ORIGINATOR_CANCEL")]
    view = acd.call_view(cb)
    assert view is not None
    assert view.status == "waiting"


def test_a_callback_requested_while_an_agent_rings_cancels_the_ring() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    out = acd.request_callback("c1", "555", 3.0)
    assert of_type(out, CancelOffer) == [
        CancelOffer(offer.offer_id, "c1", "a1", "callback_requested")
    ]
    assert of_type(out, OfferCall) == []  # not while the ring may still be on their phone
    (again,) = of_type(legs_gone(acd, out, 3.1), OfferCall)  # then the callback, at once
    assert again.callback_number == "555"


def test_callback_requests_are_checked() -> None:
    acd = busy_queue()
    with pytest.raises(RoutingError, match="not waiting"):
        acd.request_callback("nobody", "555", 1.0)
    with pytest.raises(RoutingError, match="not waiting"):
        acd.request_callback("t", "555", 1.0)  # already talking
    with pytest.raises(RoutingError, match="needs a number"):
        acd.request_callback("c1", " ", 1.0)
    acd.request_callback("c1", "555", 1.0)
    with pytest.raises(RoutingError, match="not waiting"):
        acd.request_callback(callback_id(acd, "c1"), "555", 2.0)


def test_a_booked_callback_survives_a_restart() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)], login=False)
    acd.call_arrived(ParkedCall("c9", Q), 100.0)
    acd.restore_callback(
        "cb-1", queue=Q, number="555", enqueued_at=50.0, now=110.0, origin_call_id="c1"
    )
    view = acd.call_view("c1")
    assert view is not None
    assert (view.call_id, view.position) == ("cb-1", 1)
    out = acd.login("a1", 120.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["cb-1"]
    with pytest.raises(RoutingError, match="unknown queue"):
        acd.restore_callback("cb-2", queue="nope", number="1", enqueued_at=0.0, now=121.0)


def test_a_callback_waiting_to_retry_survives_a_queue_change() -> None:
    acd = build(
        [QueueConfig(Q, callback_retry_seconds=60, callback_dial_timeout_seconds=10)],
        [agent("a1", Q)],
    )
    acd.set_break("a1", "x", 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    acd.request_callback("c1", "555", 5.0)
    (offer,) = of_type(acd.set_available("a1", 10.0), OfferCall)
    answer(acd, offer.offer_id, 10.0)
    acd.customer_unreachable(callback_id(acd, "c1"), "NO_ANSWER", 20.0)
    acd.configure_queue(QueueConfig(Q, callback_retry_seconds=60, ring_timeout_seconds=30), 30.0)
    out = acd.advance(80.0)
    assert [o.callback_number for o in of_type(out, OfferCall)] == ["555"]
