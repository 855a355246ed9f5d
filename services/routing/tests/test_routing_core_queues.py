"""Queues: priority and FIFO order, positions and estimates, limits, overflow, relaxation."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cc_proto.events import (
    CallAbandoned,
    CallBlocked,
    CallEnded,
    CallOffered,
    CallOutcome,
    CallOverflowed,
    CallQueued,
)
from cc_routing.core import (
    Acd,
    CancelOffer,
    ConfigError,
    Destination,
    OfferCall,
    ParkedCall,
    PlayAnnouncement,
    PlayMusicOnHold,
    QueueConfig,
    RelaxationStep,
    ReportProblem,
    RoutingError,
    SetCallVariables,
    TransferCall,
)
from cc_routing.core.testing import agent, answer, build, caller_left, event_types, events, of_type

Q = "support"


def answer_all(acd: Acd, out: Sequence[object], now: float) -> list[str]:
    """Answer every offer in ``out``; return the call ids answered."""
    answered = []
    for offer in of_type(out, OfferCall):
        answer(acd, offer.offer_id, now)
        answered.append(offer.call_id)
    return answered


def test_higher_priority_first_and_fifo_within_a_priority() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    out = acd.call_arrived(ParkedCall("busy", Q), 0.0)
    answer_all(acd, out, 0.0)
    for number, priority in enumerate([0, 5, 0, 5, 9]):
        acd.call_arrived(ParkedCall(f"c{number}", Q, priority=priority), 1.0 + number)
    order = []
    current, now = "busy", 10.0
    for _ in range(5):
        out = caller_left(acd, current, now)
        (current,) = answer_all(acd, out, now)
        order.append(current)
        now += 10
    assert order == ["c4", "c1", "c3", "c0", "c2"]


def test_positions_and_estimated_waits_stay_current() -> None:
    acd = build([QueueConfig(Q, expected_handle_seconds=120)], [agent("a1", Q), agent("a2", Q)])
    for call_id in ("t1", "t2"):
        answer_all(acd, acd.call_arrived(ParkedCall(call_id, Q), 0.0), 0.0)
    out = acd.call_arrived(ParkedCall("c1", Q, caller_number="+331"), 1.0)
    (queued,) = events(out, CallQueued)
    assert (queued.position, queued.estimated_wait_seconds) == (1, 60.0)
    assert of_type(out, PlayMusicOnHold) == [PlayMusicOnHold("c1", Q, None)]
    assert of_type(out, SetCallVariables)[0].variables == (
        ("cc_queue", Q),
        ("cc_priority", "0"),
        ("cc_enqueued_at", "1.0"),
    )
    acd.call_arrived(ParkedCall("c2", Q), 2.0)
    acd.call_arrived(ParkedCall("vip", Q, priority=10), 3.0)
    view = acd.call_view("c2", 5.0)
    assert view is not None
    assert (view.position, view.estimated_wait_seconds, view.wait_seconds) == (3, 180.0, 3.0)
    acd.caller_hung_up("c1", 6.0)
    view = acd.call_view("c2")
    assert view is not None
    assert view.position == 2
    assert acd.call_view("nobody") is None
    status = acd.queue_status(Q, 10.0)
    assert (status.calls, status.waiting, status.ringing, status.callbacks) == (2, 2, 0, 0)
    assert status.oldest_wait_seconds == 8.0
    assert status.estimated_wait_seconds == 180.0
    assert status.agents_by_state["on_call"] == 2


def test_estimated_wait_is_unknown_without_staff() -> None:
    acd = build([QueueConfig(Q)], [])
    (queued,) = events(acd.call_arrived(ParkedCall("c1", Q), 0.0), CallQueued)
    assert queued.estimated_wait_seconds is None


def test_a_full_queue_blocks_and_sends_the_call_where_it_says() -> None:
    full = Destination.parse("transfer:5000 XML default")
    acd = build([QueueConfig(Q, max_length=1, full_destination=full)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    out = acd.call_arrived(ParkedCall("c2", Q), 1.0)
    assert event_types(out) == ["call.blocked", "call.ended"]
    (blocked,) = events(out, CallBlocked)
    assert (blocked.reason, blocked.routed_to) == ("queue_full", "transfer:5000 XML default")
    assert of_type(out, TransferCall) == [TransferCall("c2", full, "queue_full")]
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_cause) == (CallOutcome.BLOCKED, "BLIND_TRANSFER")


def test_a_blocked_call_can_go_to_another_queue() -> None:
    acd = build(
        [
            QueueConfig(Q, max_length=0, full_destination=Destination.parse("queue:backup")),
            QueueConfig("backup"),
        ],
        [agent("a1", "backup")],
    )
    out = acd.call_arrived(ParkedCall("c1", Q), 0.0)
    assert event_types(out)[:3] == ["call.blocked", "call.offered", "call.agent_offered"]
    assert events(out, CallOffered)[0].queue == "backup"
    (offer,) = of_type(out, OfferCall)
    answer(acd, offer.offer_id, 1.0)
    (ended,) = events(acd.caller_hung_up("c1", 9.0), CallEnded)
    assert (ended.outcome, ended.queue) == (CallOutcome.ANSWERED, "backup")


def test_no_agents_can_block_at_the_door() -> None:
    acd = build([QueueConfig(Q, no_agents="block")], [agent("a1", Q)], login=False)
    out = acd.call_arrived(ParkedCall("c1", Q), 0.0)
    (blocked,) = events(out, CallBlocked)
    assert (blocked.reason, blocked.routed_to) == ("no_agents", "hangup:NORMAL_CLEARING")
    acd.login("a1", 1.0)
    acd.set_break("a1", "lunch", 1.0)  # on break still counts as nobody working the queue
    assert events(acd.call_arrived(ParkedCall("c2", Q), 2.0), CallBlocked)[0].reason == "no_agents"


def test_callers_leave_after_waiting_with_no_agent_working_the_queue() -> None:
    to_voicemail = Destination.parse("transfer:vm XML default")
    queue = QueueConfig(Q, max_wait_no_agents_seconds=30, no_agents_destination=to_voicemail)
    acd = build([queue], [agent("a1", Q)])
    acd.set_break("a1", "meeting", 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 10.0)
    assert acd.advance(39.9) == []
    out = acd.advance(40.0)
    (overflowed,) = events(out, CallOverflowed)
    assert (overflowed.to_queue, overflowed.wait_seconds) == ("transfer:vm XML default", 30.0)
    assert of_type(out, TransferCall) == [TransferCall("c1", to_voicemail, "no_agents")]


def test_the_no_agent_clock_starts_when_the_last_agent_leaves() -> None:
    queues = [QueueConfig(Q, max_wait_no_agents_seconds=30), QueueConfig("other")]
    acd = build(queues, [agent("a1", Q, "other")])
    answer_all(acd, acd.call_arrived(ParkedCall("t", "other"), 0.0), 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    assert acd.advance(100.0) == []  # a1 is on a call: the queue is still staffed
    acd.logout("a1", 100.0)
    acd.caller_hung_up("t", 100.0)  # the logout takes effect: nobody works the queue now
    assert acd.queue_status(Q).staffed == 0
    assert events(acd.advance(129.9), CallOverflowed) == []
    (overflowed,) = events(acd.advance(130.0), CallOverflowed)
    assert overflowed.wait_seconds == 130.0


def test_max_wait_sends_a_waiting_caller_on() -> None:
    out_to = Destination.parse("transfer:sorry XML default")
    acd = build([QueueConfig(Q, max_wait_seconds=60, max_wait_destination=out_to)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    out = acd.advance(60.0)
    assert event_types(out) == ["call.overflowed", "call.ended"]
    (ended,) = events(out, CallEnded)
    assert ended.outcome is CallOutcome.OVERFLOWED
    assert acd.active_calls() == []


def test_overflow_to_another_queue_after_a_wait() -> None:
    queues = [
        QueueConfig(
            Q, overflow_after_seconds=30, overflow_destination=Destination.parse("queue:b")
        ),
        QueueConfig("b"),
    ]
    acd = build(queues, [agent("a1", Q), agent("b1", "b")])
    for call_id in ("t1", "t2"):
        answer_all(
            acd, acd.call_arrived(ParkedCall(call_id, Q if call_id == "t1" else "b"), 0.0), 0
        )
    acd.call_arrived(ParkedCall("c1", Q, priority=3), 5.0)
    out = acd.advance(35.0)
    assert event_types(out) == ["call.overflowed", "call.offered", "call.queued"]
    (overflowed,) = events(out, CallOverflowed)
    assert (overflowed.queue, overflowed.to_queue, overflowed.wait_seconds) == (Q, "b", 30.0)
    assert events(out, CallOffered)[0].priority == 3
    view = acd.call_view("c1")
    assert view is not None
    assert (view.queue, view.enqueued_at) == ("b", 35.0)
    out = caller_left(acd, "t2", 40.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["c1"]


def test_overflow_waits_for_a_ringing_agent() -> None:
    queues = [
        QueueConfig(
            Q,
            ring_timeout_seconds=20,
            overflow_after_seconds=10,
            overflow_destination=Destination.parse("queue:b"),
        ),
        QueueConfig("b"),
    ]
    acd = build(queues, [agent("a1", Q, no_answer_delay_seconds=60)])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    assert events(acd.advance(10.0), CallOverflowed) == []  # still ringing a1
    out = acd.advance(20.0)  # a1 did not answer: now the overflow applies
    assert event_types(out)[:2] == ["call.agent_missed", "call.overflowed"]


def test_overflow_loops_end_at_the_fallback() -> None:
    queues = [
        QueueConfig(
            "a", overflow_after_seconds=1, overflow_destination=Destination.parse("queue:b")
        ),
        QueueConfig(
            "b", overflow_after_seconds=1, overflow_destination=Destination.parse("queue:a")
        ),
    ]
    fallback = Destination.parse("transfer:operator XML default")
    acd = build(queues, [], acd=Acd(fallback=fallback))
    acd.call_arrived(ParkedCall("c1", "a"), 0.0)
    out = acd.advance(100.0)
    assert len(events(out, CallOverflowed)) == 9
    assert of_type(out, TransferCall) == [TransferCall("c1", fallback, "overflow")]
    assert of_type(out, ReportProblem)[0].code == "bad_destination"
    assert len(events(out, CallEnded)) == 1


def test_requirements_relax_with_wait_time() -> None:
    steps = (
        RelaxationStep(0, "billing >= 4"),
        RelaxationStep(30, "billing >= 2"),
        RelaxationStep(60, None),
    )
    acd = build(
        [QueueConfig(Q, requirements=steps)],
        [agent("junior", Q, skills={"billing": 2}), agent("novice", Q)],
    )
    out = acd.call_arrived(ParkedCall("c1", Q), 0.0)
    assert of_type(out, OfferCall) == []
    out = acd.advance(30.0)
    assert [o.agent_id for o in of_type(out, OfferCall)] == ["junior"]
    answer_all(acd, out, 30.0)
    decision = acd.explain("c1")[-1]
    assert (decision.trigger, decision.relaxation_step, decision.requirement) == (
        "relaxed",
        1,
        "billing >= 2",
    )
    out = acd.call_arrived(ParkedCall("c2", Q), 31.0)
    assert of_type(out, OfferCall) == []
    out = acd.advance(91.0)
    assert [o.agent_id for o in of_type(out, OfferCall)] == ["novice"]


def test_a_call_can_carry_its_own_requirement() -> None:
    acd = build(
        [QueueConfig(Q, requirements=(RelaxationStep(0, "billing"),))],
        [
            agent("en", Q, skills={"billing": 3, "language.en": 5}),
            agent("fr", Q, skills={"language.fr": 5}),
        ],
    )
    out = acd.call_arrived(ParkedCall("c1", Q, skills='language == "fr"'), 0.0)
    assert of_type(out, OfferCall) == []
    (decision,) = acd.explain("c1")
    assert decision.requirement == '(billing) and (language == "fr")'
    reasons = {skip.agent_id: skip.reason for skip in decision.skipped}
    assert reasons == {
        "en": "requirement not met: lacks language.fr",
        "fr": "requirement not met: lacks billing",
    }


def test_a_malformed_call_requirement_is_reported_and_ignored() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    out = acd.call_arrived(ParkedCall("c1", Q, skills="language =="), 0.0)
    (problem,) = of_type(out, ReportProblem)
    assert problem.code == "bad_call_requirement"
    assert "expected a value" in problem.message
    assert len(of_type(out, OfferCall)) == 1


def test_an_unknown_queue_goes_to_the_fallback_never_dropped() -> None:
    fallback = Destination.parse("queue:general")
    acd = build([QueueConfig("general")], [agent("g1", "general")], acd=Acd(fallback=fallback))
    out = acd.call_arrived(ParkedCall("c1", "nope"), 0.0)
    (problem,) = of_type(out, ReportProblem)
    assert (problem.code, problem.queue) == ("unknown_queue", "nope")
    (blocked,) = events(out, CallBlocked)
    assert (blocked.queue, blocked.reason, blocked.routed_to) == (
        "nope",
        "unknown_queue",
        "queue:general",
    )
    assert [o.agent_id for o in of_type(out, OfferCall)] == ["g1"]


def test_a_misconfigured_queue_is_refused_and_its_calls_go_to_its_fallback() -> None:
    acd = Acd()
    fallback = Destination.parse("transfer:operator XML default")
    bad = QueueConfig(Q, requirements=(RelaxationStep(0, "billing >="),), fallback=fallback)
    with pytest.raises(ConfigError, match=r"queue 'support', requirement step 1: expected a value"):
        acd.configure_queue(bad, 0.0)
    out = acd.call_arrived(ParkedCall("c1", Q), 1.0)
    assert of_type(out, ReportProblem)[0].code == "closed"
    assert events(out, CallBlocked)[0].reason == "closed"
    assert of_type(out, TransferCall) == [TransferCall("c1", fallback, "closed")]


def test_a_bad_update_keeps_the_working_config() -> None:
    acd = build([QueueConfig(Q, requirements=(RelaxationStep(0, "billing"),))], [agent("a1", Q)])
    with pytest.raises(ConfigError):
        acd.configure_queue(QueueConfig(Q, requirements=(RelaxationStep(0, "billing >>"),)), 1.0)
    out = acd.call_arrived(ParkedCall("c1", Q), 2.0)
    assert of_type(out, OfferCall) == []  # a1 lacks billing: the old requirement still applies
    out = acd.upsert_agent(agent("a1", Q, skills={"billing": 1}), 3.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["c1"]


def test_reconfiguring_a_queue_re_evaluates_its_waiting_calls() -> None:
    acd = build([QueueConfig(Q, requirements=(RelaxationStep(0, "billing"),))], [agent("a1", Q)])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    out = acd.configure_queue(QueueConfig(Q), 5.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["c1"]


def test_announcements_repeat_with_position_and_estimate() -> None:
    acd = build([QueueConfig(Q, announce_every_seconds=30, expected_handle_seconds=60)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    acd.call_arrived(ParkedCall("c2", Q), 1.0)
    out = acd.advance(31.0)
    assert of_type(out, PlayAnnouncement) == [
        PlayAnnouncement("c1", Q, 1, None),
        PlayAnnouncement("c2", Q, 2, None),
    ]
    acd.caller_hung_up("c1", 40.0)
    out = acd.advance(61.0)
    assert of_type(out, PlayAnnouncement) == [PlayAnnouncement("c2", Q, 1, None)]


def test_abandons_while_waiting_and_while_ringing() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    offer = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)[0]
    acd.call_arrived(ParkedCall("c2", Q), 1.0)
    out = acd.caller_hung_up("c2", 11.0)
    (abandoned,) = events(out, CallAbandoned)
    assert (abandoned.wait_seconds, abandoned.position, abandoned.while_ringing) == (10.0, 2, False)
    out = acd.caller_hung_up("c1", 12.0, cause="ORIGINATOR_CANCEL")
    assert of_type(out, CancelOffer) == [
        CancelOffer(offer.offer_id, "c1", "a1", "caller_abandoned")
    ]
    (abandoned,) = events(out, CallAbandoned)
    assert (abandoned.position, abandoned.while_ringing) == (1, True)
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_cause, ended.hangup_by) == (
        CallOutcome.ABANDONED,
        "ORIGINATOR_CANCEL",
        "caller",
    )
    assert acd.agent_view("a1").state == "available"
    assert acd.caller_hung_up("c1", 13.0) == []  # a second hangup report changes nothing


def test_an_agent_in_several_queues_serves_the_one_closest_to_missing_its_target() -> None:
    queues = [
        QueueConfig("gold", service_level_target=0.9, service_level_threshold_seconds=20),
        QueueConfig("bronze", service_level_target=0.5, service_level_threshold_seconds=20),
    ]
    acd = build(queues, [agent("a1", "gold", "bronze")])
    answer_all(acd, acd.call_arrived(ParkedCall("t", "gold"), 0.0), 0.0)
    acd.call_arrived(ParkedCall("old-bronze", "bronze"), 1.0)
    acd.call_arrived(ParkedCall("new-gold", "gold"), 2.0)
    out = caller_left(acd, "t", 5.0)
    # both queues are perfect so far: gold has the smaller margin (1 - 0.9 < 1 - 0.5)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["new-gold"]
    (decision,) = acd.explain("new-gold")[-1:]
    assert [(q.queue, q.chosen) for q in decision.queue_choice] == [
        ("gold", True),
        ("bronze", False),
    ]


def test_equal_margins_go_to_the_oldest_call() -> None:
    queues = [QueueConfig("x"), QueueConfig("y")]
    acd = build(queues, [agent("a1", "x", "y")])
    answer_all(acd, acd.call_arrived(ParkedCall("t", "x"), 0.0), 0.0)
    acd.call_arrived(ParkedCall("y-old", "y"), 1.0)
    acd.call_arrived(ParkedCall("x-new", "x"), 2.0)
    out = caller_left(acd, "t", 5.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["y-old"]


def test_a_queue_missing_its_target_is_served_first() -> None:
    queues = [QueueConfig("x"), QueueConfig("y")]
    acd = build(queues, [agent("a1", "x", "y")])
    answer_all(acd, acd.call_arrived(ParkedCall("t", "x"), 0.0), 0.0)
    acd.call_arrived(ParkedCall("y-late", "y"), 1.0)
    acd.caller_hung_up("y-late", 60.0)  # abandoned after 59 s: y is now below target
    acd.call_arrived(ParkedCall("x-old", "x"), 61.0)
    acd.call_arrived(ParkedCall("y-new", "y"), 62.0)
    assert acd.queue_status("y", 63.0).service_level == 0.0
    out = caller_left(acd, "t", 63.0)
    assert [o.call_id for o in of_type(out, OfferCall)] == ["y-new"]


def test_removing_a_queue_that_holds_calls_is_refused() -> None:
    acd = build([QueueConfig(Q)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    with pytest.raises(RoutingError, match="still holds 1 calls"):
        acd.remove_queue(Q, 1.0)
    acd.caller_hung_up("c1", 2.0)
    acd.remove_queue(Q, 3.0)
    assert acd.queue_names() == []
    with pytest.raises(RoutingError, match="unknown queue"):
        acd.queue_status(Q)


def test_a_duplicate_park_is_reported_not_doubled() -> None:
    acd = build([QueueConfig(Q)], [])
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    out = acd.call_arrived(ParkedCall("c1", Q), 1.0)
    assert [p.code for p in of_type(out, ReportProblem)] == ["duplicate_call"]
    assert acd.queue_status(Q).calls == 1


def test_priorities_outside_the_contract_are_clamped_and_reported() -> None:
    acd = build([QueueConfig(Q)], [])
    out = acd.call_arrived(ParkedCall("c1", Q, priority=500), 0.0)
    assert of_type(out, ReportProblem)[0].code == "bad_priority"
    assert events(out, CallOffered)[0].priority == 100


def test_the_clock_never_runs_backwards() -> None:
    acd = build([QueueConfig(Q)], [])
    acd.call_arrived(ParkedCall("c1", Q), 100.0)
    out = acd.caller_hung_up("c1", 90.0)  # an out-of-order timestamp
    (abandoned,) = events(out, CallAbandoned)
    assert abandoned.wait_seconds == 0.0
    with pytest.raises(ValueError, match="finite"):
        acd.advance(float("nan"))


def test_calls_relaxing_together_are_served_in_line_order() -> None:
    steps = (RelaxationStep(0, "billing >= 3"), RelaxationStep(20, "billing"))
    acd = build([QueueConfig(Q, requirements=steps)], [agent("a1", Q, skills={"billing": 1})])
    acd.call_arrived(ParkedCall("low", Q, priority=0), 0.0)
    acd.call_arrived(ParkedCall("high", Q, priority=1), 0.0)
    out = acd.advance(20.0)  # "low" relaxes first in timer order, but "high" is ahead in line
    assert [o.call_id for o in of_type(out, OfferCall)] == ["high"]


def test_relaxation_deadlines_hold_with_awkward_float_times() -> None:
    steps = (RelaxationStep(0, "billing >= 3"), RelaxationStep(0.3, "billing"))
    acd = build([QueueConfig(Q, requirements=steps)], [agent("a1", Q, skills={"billing": 1})])
    acd.call_arrived(ParkedCall("c1", Q), 0.1)
    out = acd.advance(0.1 + 0.3)  # 0.1 + 0.3 - 0.1 < 0.3 in floating point
    assert [o.call_id for o in of_type(out, OfferCall)] == ["c1"]
    assert acd.next_deadline() == 20.4
