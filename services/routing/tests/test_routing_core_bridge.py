"""Between the agent's answer and FreeSWITCH's bridge: the call is answered only once bridged."""

from __future__ import annotations

from cc_proto.events import (
    AgentState,
    CallAbandoned,
    CallAgentMissed,
    CallAnswered,
    CallEnded,
    CallOutcome,
)
from cc_routing.core import (
    Acd,
    BridgeCall,
    CancelOffer,
    OfferCall,
    ParkedCall,
    QueueConfig,
    SetCallVariables,
    Strategy,
)
from cc_routing.core.testing import agent, build, events, of_type

Q = "support"


def ring(acd: Acd, call_id: str, now: float) -> OfferCall:
    """Bring a caller in and return the one offer it makes."""
    (offer,) = of_type(acd.call_arrived(ParkedCall(call_id, Q), now), OfferCall)
    return offer


def test_the_agent_answering_asks_for_the_bridge_and_counts_nothing_yet() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    offer = ring(acd, "c1", 10.0)
    out = acd.agent_answered(offer.offer_id, 14.0)
    assert of_type(out, BridgeCall) == [BridgeCall("c1", offer.offer_id, "a1")]
    assert of_type(out, SetCallVariables) == []  # the agent is written on the call once bridged
    assert events(out, CallAnswered) == []
    assert acd.agent_view("a1").state == AgentState.RESERVED.value
    view = acd.call_view("c1")
    assert view is not None
    assert view.status == "connecting"


def test_the_confirmed_bridge_answers_with_ring_time_to_the_pick_up_and_wait_to_the_bridge() -> (
    None
):
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    offer = ring(acd, "c1", 10.0)
    acd.agent_answered(offer.offer_id, 14.0)
    out = acd.call_bridged("c1", 14.25)
    (answered,) = events(out, CallAnswered)
    assert (answered.ring_seconds, answered.wait_seconds) == (4.0, 4.25)
    assert of_type(out, BridgeCall) == []  # asked for once, at the answer
    (variables,) = of_type(out, SetCallVariables)
    assert dict(variables.variables) == {
        "cc_agent": "a1",
        "cc_agent_leg": offer.offer_id,
        "cc_answered_at": "14.25",
    }
    assert acd.agent_view("a1").state == AgentState.ON_CALL.value
    assert acd.call_bridged("c1", 15.0) == []  # a repeated bridge event changes nothing


def test_a_caller_who_hangs_up_before_the_bridge_abandoned_and_the_agent_is_free() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    offer = ring(acd, "c1", 10.0)
    acd.agent_answered(offer.offer_id, 14.0)
    out = acd.caller_hung_up("c1", 14.1, cause="ORIGINATOR_CANCEL")
    (abandoned,) = events(out, CallAbandoned)
    assert abandoned.while_ringing
    (ended,) = events(out, CallEnded)
    assert ended.outcome is CallOutcome.ABANDONED
    assert events(out, CallAnswered) == []
    assert [c.offer_id for c in of_type(out, CancelOffer)] == [offer.offer_id]
    view = acd.agent_view("a1")
    assert (view.state, view.no_answer_count, view.calls_answered) == ("available", 0, 0)
    assert acd.call_bridged("c1", 14.2) == []  # the late bridge event of a call that is gone


def test_routing_holds_a_call_from_its_arrival_to_its_end() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    assert not acd.holds_call("c1")
    offer = ring(acd, "c1", 10.0)
    assert acd.holds_call("c1")
    acd.agent_answered(offer.offer_id, 14.0)
    acd.call_bridged("c1", 14.2)
    assert acd.holds_call("c1")
    acd.caller_hung_up("c1", 20.0, cause="NORMAL_CLEARING")
    assert not acd.holds_call("c1")


def test_an_agent_leg_lost_before_the_bridge_sends_the_caller_to_the_next_agent() -> None:
    acd = build([QueueConfig(Q, strategy=Strategy.TOP_DOWN)], [agent("a1", Q), agent("a2", Q)])
    offer = ring(acd, "c1", 10.0)
    assert offer.agent_id == "a1"
    acd.agent_answered(offer.offer_id, 12.0)
    out = acd.agent_hung_up(offer.offer_id, 12.1, cause="NORMAL_CLEARING")
    (missed,) = events(out, CallAgentMissed)
    assert (missed.agent_leg_uuid, missed.cause) == (offer.offer_id, "NORMAL_CLEARING")
    (again,) = of_type(out, OfferCall)
    assert (again.call_id, again.agent_id) == ("c1", "a2")
    assert acd.agent_view("a1").no_answer_count == 1
    acd.agent_answered(again.offer_id, 13.0)
    (answered,) = events(acd.call_bridged("c1", 13.0), CallAnswered)
    assert answered.agent_leg_uuid == again.offer_id


def test_queue_deadlines_are_armed_again_when_the_bridge_fails() -> None:
    acd = build([QueueConfig(Q, max_wait_seconds=60)], [agent("a1", Q)])
    offer = ring(acd, "c1", 0.0)
    acd.agent_answered(offer.offer_id, 5.0)
    acd.advance(70.0)  # the max-wait deadline passes while the bridge is pending: kept
    assert acd.call_view("c1") is not None
    out = acd.agent_hung_up(offer.offer_id, 71.0, cause="NORMAL_CLEARING")
    (ended,) = events(out, CallEnded)
    assert ended.outcome is CallOutcome.OVERFLOWED  # sent on at once: it is past max wait


def test_a_refused_bridge_hangs_up_the_agent_leg_whose_hangup_requeues_the_caller() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    offer = ring(acd, "c1", 10.0)
    acd.agent_answered(offer.offer_id, 12.0)
    out = acd.bridge_failed(offer.offer_id, 12.05)
    assert [(c.offer_id, c.reason) for c in of_type(out, CancelOffer)] == [
        (offer.offer_id, "bridge_failed")
    ]
    out = acd.agent_hung_up(offer.offer_id, 12.1, cause="ORIGINATOR_CANCEL")
    assert acd.agent_view("a1").no_answer_count == 0  # our own hangup: no fault of the agent's
    (again,) = of_type(out, OfferCall)
    assert again.call_id == "c1"
    assert acd.bridge_failed(offer.offer_id, 12.2) == []  # the old leg is forgotten


def test_a_logout_while_the_bridge_is_pending_waits_for_the_call() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=0)], [agent("a1", Q)])
    offer = ring(acd, "c1", 10.0)
    acd.agent_answered(offer.offer_id, 12.0)
    assert acd.logout("a1", 12.01) == []
    acd.call_bridged("c1", 12.02)
    assert acd.agent_view("a1").state == AgentState.ON_CALL.value
    acd.caller_hung_up("c1", 40.0)
    assert acd.agent_view("a1").state == AgentState.LOGGED_OUT.value


def test_ring_all_stops_the_other_phones_at_the_answer() -> None:
    acd = build([QueueConfig(Q, strategy=Strategy.RING_ALL)], [agent("a1", Q), agent("a2", Q)])
    offers = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    assert len(offers) == 2
    out = acd.agent_answered(offers[0].offer_id, 3.0)
    assert [c.offer_id for c in of_type(out, CancelOffer)] == [offers[1].offer_id]
    assert acd.agent_view("a2").state == AgentState.AVAILABLE.value
