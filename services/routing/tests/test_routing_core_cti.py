"""CTI control in the core: a CRM hangs up or transfers a call; what does not apply is refused."""

from __future__ import annotations

import pytest

from cc_proto.events import (
    CallEnded,
    CallHeld,
    CallOffered,
    CallOutcome,
    CallResumed,
    CallTransferred,
)
from cc_routing.core import (
    HangupCall,
    HoldCall,
    OfferCall,
    ParkCaller,
    ParkedCall,
    QueueConfig,
    RoutingError,
    TransferOut,
)
from cc_routing.core.testing import agent, answer, build, events, of_type

Q = "support"


def test_hanging_up_an_answered_call_kills_the_caller_leg_and_its_hangup_ends_the_call() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=10)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    out = acd.hang_up("c1", "CALL_REJECTED", 5.0)
    assert of_type(out, HangupCall) == [HangupCall("c1", "CALL_REJECTED")]
    assert acd.agent_view("a1").state == "on_call"  # nothing changes until the switch says so
    (ended,) = events(acd.caller_hung_up("c1", 5.1, cause="CALL_REJECTED"), CallEnded)
    assert (ended.outcome, ended.hangup_cause, ended.hangup_by) == (
        CallOutcome.ANSWERED,
        "CALL_REJECTED",
        "agent",
    )
    assert acd.agent_view("a1").state == "wrap_up"


def test_the_requested_cause_holds_when_the_agent_legs_hangup_is_reported_first() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=10)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    acd.hang_up("c1", "CALL_REJECTED", 5.0)
    out = acd.agent_hung_up(offer.offer_id, 5.1, cause="NORMAL_CLEARING")
    (ended,) = events(out, CallEnded)
    assert (ended.hangup_cause, ended.hangup_by) == ("CALL_REJECTED", "agent")


def test_a_waiting_call_can_be_hung_up() -> None:
    acd = build([QueueConfig(Q)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    assert of_type(acd.hang_up("c1", "NORMAL_CLEARING", 1.0), HangupCall) == [
        HangupCall("c1", "NORMAL_CLEARING")
    ]
    (ended,) = events(acd.caller_hung_up("c1", 1.1), CallEnded)
    assert (ended.outcome, ended.hangup_by) == (CallOutcome.ABANDONED, "system")


def test_an_unknown_call_or_a_booked_callback_is_refused() -> None:
    acd = build([QueueConfig(Q)], [])
    with pytest.raises(RoutingError, match="no call"):
        acd.hang_up("nobody", "NORMAL_CLEARING", 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    acd.request_callback("c1", "+33123456789", 1.0)
    view = acd.call_view("c1")
    assert view is not None
    with pytest.raises(RoutingError, match="booked callback"):
        acd.hang_up(view.call_id, "NORMAL_CLEARING", 2.0)


def test_a_blind_transfer_to_a_number_ends_the_call_here_and_frees_the_agent() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=10)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    out = acd.transfer_to_number("c1", "+4930123456", 5.0)
    (moved,) = events(out, CallTransferred)
    assert (moved.kind, moved.target_kind, moved.target) == ("blind", "number", "+4930123456")
    assert of_type(out, TransferOut) == [TransferOut("c1", "+4930123456")]
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_by) == (CallOutcome.TRANSFERRED_OUT, "agent")
    assert ended.talk_seconds == 4.0
    assert acd.agent_view("a1").state == "wrap_up"
    assert not acd.holds_call("c1")
    assert acd.agent_hung_up(offer.offer_id, 5.1) == []  # the agent leg's end changes nothing


def test_only_an_answered_call_can_be_transferred() -> None:
    acd = build([QueueConfig(Q)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    with pytest.raises(RoutingError, match="waiting"):
        acd.transfer_to_number("c1", "+4930123456", 1.0)
    with pytest.raises(RoutingError, match="no call"):
        acd.transfer_to_number("nobody", "+4930123456", 1.0)


def test_a_blind_transfer_to_a_queue_parks_the_caller_and_offers_it_there() -> None:
    acd = build(
        [QueueConfig(Q, wrap_up_seconds=10), QueueConfig("billing")],
        [agent("a1", Q), agent("b1", "billing")],
    )
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    out = acd.transfer_to_queue("c1", "billing", 5.0)
    (moved,) = events(out, CallTransferred)
    assert (moved.target_kind, moved.target, moved.queue) == ("queue", "billing", Q)
    assert of_type(out, ParkCaller) == [ParkCaller("c1", "transferred")]
    assert events(out, CallEnded) == []  # the call goes on
    assert [e.queue for e in events(out, CallOffered)] == ["billing"]
    (again,) = of_type(out, OfferCall)
    assert (again.call_id, again.agent_id, again.queue) == ("c1", "b1", "billing")
    assert acd.agent_view("a1").state == "wrap_up"
    assert acd.agent_hung_up(offer.offer_id, 5.1) == []  # alice's leg ending changes nothing
    answer(acd, again.offer_id, 6.0)
    (ended,) = events(acd.caller_hung_up("c1", 9.0), CallEnded)
    assert (ended.outcome, ended.talk_seconds) == (CallOutcome.ANSWERED, 3.0)
    assert acd.agent_view("b1").state == "available"


def test_a_transfer_to_an_unknown_queue_is_refused_and_changes_nothing() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    with pytest.raises(RoutingError, match="no queue"):
        acd.transfer_to_queue("c1", "nowhere", 2.0)
    view = acd.call_view("c1")
    assert view is not None
    assert view.status == "connected"


def test_hold_and_resume_count_the_hold_and_refuse_what_does_not_apply() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    with pytest.raises(RoutingError, match="only an answered call can be held"):
        acd.hold_call("c1", 0.5)
    answer(acd, offer.offer_id, 1.0)
    with pytest.raises(RoutingError, match="not on hold"):
        acd.resume_call("c1", 1.5)
    out = acd.hold_call("c1", 2.0)
    assert of_type(out, HoldCall) == [HoldCall("c1", offer.offer_id, on=True)]
    assert len(events(out, CallHeld)) == 1
    with pytest.raises(RoutingError, match="already on hold"):
        acd.hold_call("c1", 2.5)
    out = acd.resume_call("c1", 5.0)
    assert of_type(out, HoldCall) == [HoldCall("c1", offer.offer_id, on=False)]
    (resumed,) = events(out, CallResumed)
    assert resumed.hold_seconds == 3.0
    acd.hold_call("c1", 6.0)
    (ended,) = events(acd.caller_hung_up("c1", 7.0), CallEnded)
    assert ended.hold_seconds == 4.0  # the finished hold and the one the hangup cut short
