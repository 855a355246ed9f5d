"""Agent states: login, offers, talk, wrap-up, breaks, not-ready after missed offers, logout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from cc_proto.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    CallAgentMissed,
    CallDispositioned,
    CallEnded,
)
from cc_routing.core import (
    Acd,
    CancelOffer,
    OfferCall,
    ParkedCall,
    PublishEvent,
    QueueConfig,
    ReportProblem,
    RoutingError,
)
from cc_routing.core.testing import agent, answer, build, caller_left, events, legs_gone, of_type

Q = "support"


def states(out: Sequence[object]) -> list[tuple[str, str, str | None]]:
    """(agent, from->to, reason) for each state change, in order."""
    changes = []
    for command in of_type(out, PublishEvent):
        data = command.data
        if isinstance(data, AgentStateChanged):
            arrow = f"{data.from_state.value}->{data.to_state.value}"
            changes.append((command.agent_id or "", arrow, data.reason))
    return changes


def offer_of(out: Sequence[object]) -> OfferCall:
    (offer,) = of_type(out, OfferCall)
    return offer


def talk(acd: Acd, call_id: str, now: float) -> OfferCall:
    """Bring a call in, let the offered agent answer; return the offer."""
    offer = offer_of(acd.call_arrived(ParkedCall(call_id, Q), now))
    answer(acd, offer.offer_id, now + 1)
    return offer


def test_login_publishes_the_shift_and_availability() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q, skills={"billing": 4}, team="blue")], login=False)
    out = acd.login("a1", 10.0)
    (logged_in,) = events(out, AgentLoggedIn)
    assert logged_in.queues == [Q]
    assert logged_in.skills == {"billing": 4}
    assert logged_in.contact == "user/a1"
    assert states(out) == [("a1", "logged_out->available", None)]
    (changed,) = events(out, AgentStateChanged)
    assert changed.team == "blue"
    assert changed.from_state_since == datetime.fromtimestamp(0.0, UTC)
    with pytest.raises(RoutingError, match="already logged in"):
        acd.login("a1", 11.0)
    with pytest.raises(RoutingError, match="unknown agent"):
        acd.login("nobody", 11.0)


def test_login_straight_into_a_break_and_reason_codes_are_checked() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)], login=False, acd=Acd(break_reasons={"lunch"}))
    with pytest.raises(RoutingError, match="reason 'smoke' is not one of"):
        acd.login("a1", 1.0, state=AgentState.BREAK, reason="smoke")
    with pytest.raises(RoutingError, match="logs in available, on break or not ready"):
        acd.login("a1", 1.0, state=AgentState.ON_CALL)
    out = acd.login("a1", 1.0, state=AgentState.BREAK, reason="lunch")
    assert states(out) == [("a1", "logged_out->break", "lunch")]
    assert acd.agent_view("a1").offerable is False


def test_a_call_walks_the_agent_through_reserved_on_call_wrap_up_and_back() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=30)], [agent("a1", Q, wrap_up_seconds=5)])
    out = acd.call_arrived(ParkedCall("c1", Q), 100.0)
    offer = offer_of(out)
    assert states(out) == [("a1", "available->reserved", None)]
    out = answer(acd, offer.offer_id, 103.0)
    assert states(out) == [("a1", "reserved->on_call", None)]
    out = caller_left(acd, "c1", 160.0)
    assert states(out) == [("a1", "on_call->wrap_up", None)]
    assert acd.next_deadline() == 190.0  # the queue's wrap-up wins over the agent's
    assert acd.advance(189.9) == []
    out = acd.advance(195.0)
    assert states(out) == [("a1", "wrap_up->available", None)]
    (back,) = events(out, AgentStateChanged)
    assert back.from_state_since == datetime.fromtimestamp(160.0, UTC)
    assert out[0].at == 190.0  # type: ignore[union-attr]  # timer fired at its own time
    view = acd.agent_view("a1")
    assert (view.calls_answered, view.talk_seconds) == (1, 57.0)


def test_the_agent_wrap_up_applies_when_the_queue_sets_none() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q, wrap_up_seconds=5)])
    talk(acd, "c1", 0.0)
    caller_left(acd, "c1", 10.0)
    assert acd.agent_view("a1").state == "wrap_up"
    assert acd.next_deadline() == 15.0


def test_wrap_up_can_be_extended_or_ended_early() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=30)], [agent("a1", Q)])
    talk(acd, "c1", 0.0)
    caller_left(acd, "c1", 10.0)
    acd.extend_wrap_up("a1", 20, 15.0)
    assert acd.advance(45.0) == []  # the original end no longer applies
    assert acd.agent_view("a1").state == "wrap_up"
    out = acd.advance(60.0)
    assert states(out) == [("a1", "wrap_up->available", None)]
    talk(acd, "c2", 100.0)
    caller_left(acd, "c2", 110.0)
    out = acd.end_wrap_up("a1", 112.0)
    assert states(out) == [("a1", "wrap_up->available", None)]
    assert acd.advance(200.0) == []
    with pytest.raises(RoutingError, match="not in wrap-up"):
        acd.end_wrap_up("a1", 201.0)
    with pytest.raises(RoutingError, match="not in wrap-up"):
        acd.extend_wrap_up("a1", 10, 201.0)
    with pytest.raises(RoutingError, match="positive"):
        acd.extend_wrap_up("a1", 0, 201.0)


def test_a_freed_agent_takes_the_waiting_call_when_wrap_up_ends() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=30)], [agent("a1", Q)])
    talk(acd, "c1", 0.0)
    acd.call_arrived(ParkedCall("c2", Q), 5.0)
    acd.caller_hung_up("c1", 10.0)
    out = acd.advance(40.0)
    assert offer_of(out).call_id == "c2"
    assert states(out) == [("a1", "wrap_up->available", None), ("a1", "available->reserved", None)]


def test_dispositions_are_published_during_wrap_up_and_checked() -> None:
    queue = QueueConfig(Q, wrap_up_seconds=30, disposition_codes=frozenset({"sale", "no_sale"}))
    acd = build([queue], [agent("a1", Q)])
    with pytest.raises(RoutingError, match="no call to disposition"):
        acd.dispose_call("a1", "sale", 0.0)
    talk(acd, "c1", 0.0)
    acd.caller_hung_up("c1", 10.0)
    out = acd.dispose_call("a1", "sale", 12.0, resolved=True)
    (disposition,) = events(out, CallDispositioned)
    assert (disposition.code, disposition.resolved, disposition.queue) == ("sale", True, Q)
    assert of_type(out, PublishEvent)[0].call_id == "c1"
    with pytest.raises(RoutingError, match="not one of"):
        acd.dispose_call("a1", "maybe", 13.0)


def test_a_break_asked_for_on_a_call_waits_for_the_end_of_wrap_up() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=10)], [agent("a1", Q)])
    talk(acd, "c1", 0.0)
    assert acd.set_break("a1", "lunch", 5.0) == []
    assert acd.agent_view("a1").pending == "break"
    acd.caller_hung_up("c1", 20.0)
    out = acd.advance(30.0)
    assert states(out) == [("a1", "wrap_up->break", "lunch")]
    acd.call_arrived(ParkedCall("c2", Q), 31.0)
    out = acd.set_available("a1", 40.0)
    assert states(out) == [("a1", "break->available", None), ("a1", "available->reserved", None)]


def test_not_ready_and_back() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    out = acd.set_not_ready("a1", "training", 1.0)
    assert states(out) == [("a1", "available->not_ready", "training")]
    out = acd.call_arrived(ParkedCall("c1", Q), 2.0)
    assert of_type(out, OfferCall) == []
    out = acd.set_available("a1", 3.0)
    assert offer_of(out).call_id == "c1"


def test_logout_on_a_call_waits_for_the_call_and_skips_wrap_up() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=30)], [agent("a1", Q)])
    talk(acd, "c1", 0.0)
    assert acd.logout("a1", 5.0, reason="shift over") == []
    out = acd.caller_hung_up("c1", 10.0)
    assert states(out) == [("a1", "on_call->logged_out", "shift over")]
    (logged_out,) = events(out, AgentLoggedOut)
    assert logged_out.reason == "shift over"
    with pytest.raises(RoutingError, match="not logged in"):
        acd.logout("a1", 11.0)
    with pytest.raises(RoutingError, match="log in first"):
        acd.set_available("a1", 11.0)
    with pytest.raises(RoutingError, match="not logged in"):
        acd.set_break("a1", "x", 11.0)


def test_logout_while_ringing_hands_the_call_to_someone_else() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    offer = offer_of(acd.call_arrived(ParkedCall("c1", Q), 0.0))
    acd.upsert_agent(agent("a2", Q), 1.0)
    out = acd.logout("a1", 2.0)
    assert of_type(out, CancelOffer) == [
        CancelOffer(offer.offer_id, "c1", "a1", "agent_logged_out")
    ]
    assert states(out) == [("a1", "reserved->logged_out", None)]
    out = acd.login("a2", 3.0)
    assert offer_of(out).agent_id == "a2"


def test_missed_offers_put_the_agent_not_ready_after_max_no_answer() -> None:
    acd = build([QueueConfig(Q, ring_timeout_seconds=15)], [agent("a1", Q, max_no_answer=2)])
    first = offer_of(acd.call_arrived(ParkedCall("c1", Q), 0.0))
    out = acd.advance(15.0)
    assert of_type(out, CancelOffer) == [CancelOffer(first.offer_id, "c1", "a1", "ring_timeout")]
    (missed,) = events(out, CallAgentMissed)
    assert (missed.cause, missed.ring_seconds) == ("NO_ANSWER", 15.0)
    assert of_type(out, OfferCall) == []  # not before the first leg is confirmed gone
    second = offer_of(legs_gone(acd, out, 15.1))  # no delay configured: rung again
    assert second.agent_id == "a1"
    assert second.attempt == 2
    out = acd.offer_failed(second.offer_id, "NO_ANSWER", 20.0)
    assert states(out)[-1] == ("a1", "reserved->not_ready", "max_no_answer")
    assert acd.agent_view("a1").no_answer_count == 2
    out = acd.set_available("a1", 30.0)
    assert acd.agent_view("a1").no_answer_count == 0
    assert offer_of(out).call_id == "c1"


@pytest.mark.parametrize(
    ("cause", "delay", "counts"),
    [
        ("NO_ANSWER", 30.0, True),
        ("NO_USER_RESPONSE", 30.0, True),
        ("USER_BUSY", 20.0, False),
        ("NORMAL_CIRCUIT_CONGESTION", 20.0, False),
        ("CALL_REJECTED", 10.0, False),
        ("USER_NOT_REGISTERED", 5.0, False),
        ("ORIGINATOR_CANCEL", 0.0, False),
    ],
)
def test_a_failed_offer_rests_the_agent_as_mod_callcenter_does(
    cause: str, delay: float, counts: bool
) -> None:
    config = agent(
        "a1",
        Q,
        max_no_answer=5,
        no_answer_delay_seconds=30,
        busy_delay_seconds=20,
        reject_delay_seconds=10,
    )
    acd = build([QueueConfig(Q)], [config])
    offer = offer_of(acd.call_arrived(ParkedCall("c1", Q), 100.0))
    out = acd.offer_failed(offer.offer_id, cause, 104.0)
    assert acd.agent_view("a1").no_answer_count == (1 if counts else 0)
    assert states(out)[0] == ("a1", "reserved->available", None)
    if delay == 0:
        assert offer_of(out).agent_id == "a1"
        return
    assert of_type(out, OfferCall) == []
    assert acd.agent_view("a1").offerable is False
    assert acd.advance(104.0 + delay - 0.01) == []
    out = acd.advance(104.0 + delay)
    assert offer_of(out).call_id == "c1"


def test_a_duplicate_failure_report_is_ignored() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q, no_answer_delay_seconds=60)])
    offer = offer_of(acd.call_arrived(ParkedCall("c1", Q), 0.0))
    acd.offer_failed(offer.offer_id, "NO_ANSWER", 5.0)
    assert acd.offer_failed(offer.offer_id, "NO_ANSWER", 6.0) == []
    assert acd.agent_view("a1").no_answer_count == 1


def test_agent_config_changes_apply_to_an_idle_agent_at_once() -> None:
    acd = build([QueueConfig(Q), QueueConfig("sales")], [agent("a1", Q)])
    acd.call_arrived(ParkedCall("c1", "sales"), 0.0)
    out = acd.upsert_agent(agent("a1", Q, "sales"), 1.0)
    assert offer_of(out).call_id == "c1"
    status = acd.queue_status("sales")
    assert (status.staffed, status.offerable) == (1, 0)


def test_removing_an_agent_needs_a_logout() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    with pytest.raises(RoutingError, match="must log out"):
        acd.remove_agent("a1", 0.0)
    acd.logout("a1", 1.0)
    acd.remove_agent("a1", 2.0)
    assert acd.agent_ids() == []
    assert acd.queue_status(Q).agents_by_state["logged_out"] == 0


def test_empty_hangup_causes_and_codes_never_break_an_event() -> None:
    acd = build([QueueConfig(Q, wrap_up_seconds=10)], [agent("a1", Q)])
    offer = offer_of(acd.call_arrived(ParkedCall("c1", Q), 0.0))
    out = acd.offer_failed(offer.offer_id, "", 1.0)
    (missed,) = events(out, CallAgentMissed)
    assert missed.cause == "UNSPECIFIED"
    offer = offer_of(out)
    answer(acd, offer.offer_id, 2.0)
    (ended,) = events(acd.caller_hung_up("c1", 3.0, cause=" "), CallEnded)
    assert ended.hangup_cause == "UNSPECIFIED"
    with pytest.raises(RoutingError, match="1-200 characters"):
        acd.dispose_call("a1", "", 4.0)


def test_a_dialer_call_holds_a_blended_agent_on_a_call_so_no_queue_offers_them_one() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q, team="out"), agent("a2", Q)])
    assert acd.outbound_free({"a2"}, {"out"}) == {"a1": "user/a1", "a2": "user/a2"}
    out = acd.take_for_outbound("a1", "renewals", 5.0)
    assert states(out) == [("a1", "available->on_call", "outbound:renewals")]
    assert acd.on_outbound("a1")
    assert acd.outbound_free({"a1", "a2"}, set()) == {"a2": "user/a2"}
    with pytest.raises(RoutingError, match="not free"):
        acd.take_for_outbound("a1", "renewals", 6.0)
    # An inbound caller goes to a2, not to a1 on the dialer's call.
    assert offer_of(acd.call_arrived(ParkedCall("c1", Q), 7.0)).agent_id == "a2"
    # a1's outbound leg ends: available again, and a caller waiting is offered at once.
    acd.call_arrived(ParkedCall("c2", Q), 8.0)
    out = acd.outbound_ended("a1", 9.0)
    assert states(out)[0] == ("a1", "on_call->available", None)
    assert offer_of(out).agent_id == "a1"
    assert acd.outbound_ended("a1", 9.5) == []  # once


def test_a_break_asked_for_on_a_dialer_call_starts_when_it_ends() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    acd.take_for_outbound("a1", "renewals", 5.0)
    assert acd.set_break("a1", "lunch", 6.0) == []
    assert states(acd.outbound_ended("a1", 9.0)) == [("a1", "on_call->break", "lunch")]
    with pytest.raises(RoutingError, match="not free"):
        acd.take_for_outbound("a1", "renewals", 10.0)


def test_an_agent_is_not_rung_again_until_their_last_leg_is_confirmed_gone() -> None:
    """A caller who leaves while the agent rings: the hangup of the agent's leg is on its way,
    and FreeSWITCH may even have got it before the leg existed. The agent's phone rings for
    the next caller only once the first leg's end is heard, and it is hung up again meanwhile."""
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    first = offer_of(acd.call_arrived(ParkedCall("c1", Q), 0.0))
    out = acd.caller_hung_up("c1", 1.0)
    assert of_type(out, CancelOffer) == [
        CancelOffer(first.offer_id, "c1", "a1", "caller_abandoned")
    ]
    assert acd.agent_view("a1").state == "available"  # for the wallboard: free, no fault
    assert of_type(acd.call_arrived(ParkedCall("c2", Q), 1.5), OfferCall) == []
    assert acd.agent_view("a1").offerable is False
    again = acd.advance(3.0)  # no end heard for LEG_CONFIRM_SECONDS: hung up again
    assert of_type(again, CancelOffer) == [CancelOffer(first.offer_id, "c1", "a1", "unconfirmed")]
    assert of_type(again, OfferCall) == []
    out = acd.agent_hung_up(first.offer_id, 3.2, cause="ORIGINATOR_CANCEL")
    assert offer_of(out).call_id == "c2"  # the phone is free: the waiting caller rings it
    assert events(out, CallAgentMissed) == []  # our own hangup is nobody's miss


def test_a_leg_never_confirmed_gone_is_reported_and_the_agent_given_back() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    first = offer_of(acd.call_arrived(ParkedCall("c1", Q), 0.0))
    acd.caller_hung_up("c1", 1.0)
    acd.call_arrived(ParkedCall("c2", Q), 1.5)
    out = acd.advance(5.0) + acd.advance(7.0)  # two more hangups, both unheard
    assert len(of_type(out, CancelOffer)) == 2
    assert of_type(out, ReportProblem)[0].code == "agent_leg_unconfirmed"
    assert first.offer_id in of_type(out, ReportProblem)[0].message
    assert offer_of(out).call_id == "c2"
    assert acd.agent_hung_up(first.offer_id, 8.0) == []  # a late end changes nothing


def test_after_a_dialer_call_the_agent_wraps_up_before_any_next_call() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    acd.take_for_outbound("a1", "renewals", 5.0)
    acd.call_arrived(ParkedCall("c1", Q), 6.0)  # an inbound caller waits meanwhile
    out = acd.outbound_ended("a1", 9.0, wrap_up_seconds=30.0)  # the campaign's wrap-up
    assert states(out) == [("a1", "on_call->wrap_up", None)]
    assert acd.outbound_free({"a1"}, set()) == {}  # no dial and no offer during wrap-up
    assert acd.advance(38.0) == []
    out = acd.advance(39.0)
    assert states(out)[0] == ("a1", "wrap_up->available", None)
    assert offer_of(out).agent_id == "a1"


def test_without_a_campaign_wrap_up_the_agent_has_their_own() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q, wrap_up_seconds=5.0)])
    acd.take_for_outbound("a1", "renewals", 5.0)
    assert states(acd.outbound_ended("a1", 9.0)) == [("a1", "on_call->wrap_up", None)]
    assert states(acd.advance(14.0)) == [("a1", "wrap_up->available", None)]


def test_an_agent_still_on_a_dialer_call_after_a_restart_stays_on_it() -> None:
    acd = build([QueueConfig(Q)], [])
    config = agent("a1", Q)
    assert acd.restore_outbound(config, reason="outbound:renewals", since=3.0, now=10.0) == []
    assert acd.on_outbound("a1")
    assert acd.outbound_agents() == ["a1"]
    # A caller arriving meanwhile is not offered to them; when the call ends, they are.
    assert of_type(acd.call_arrived(ParkedCall("c1", Q), 11.0), OfferCall) == []
    out = acd.outbound_ended("a1", 20.0)
    assert states(out)[0] == ("a1", "on_call->available", None)
    assert offer_of(out).agent_id == "a1"
    with pytest.raises(RoutingError, match="not the reason of an outbound call"):
        acd.restore_outbound(config, reason="lunch", since=3.0, now=10.0)
