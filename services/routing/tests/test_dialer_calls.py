"""The outbound floor: connecting answered customers, the 2-second rule, machines, outcomes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from cc_common.esl import EslEvent
from cc_proto.events import DialerAttempted, DialerConnected, DialerDropped, DialerMachineDetected
from cc_routing.adapters.dialer_freeswitch import classify, to_esl
from cc_routing.dialer.calls import (
    Adopted,
    AdoptedCall,
    Bridge,
    Floor,
    FloorSettings,
    ForgetHangup,
    Hangup,
    NoteHangup,
    OriginateAgent,
    OriginateCustomer,
    Park,
    PlayAndHangup,
    Publish,
    Settled,
)
from cc_routing.dialer.campaigns import Outcome


def floor(**changes: object) -> Floor:
    counter = itertools.count(1)
    settings = FloorSettings(campaign="sales", caller_id="+33100000000", **changes)  # type: ignore[arg-type]
    return Floor(settings, new_id=lambda: f"agent-leg-{next(counter)}")


def test_a_dial_originates_our_leg_and_publishes_the_attempt() -> None:
    f = floor()
    out = f.dial("c1", "lead1", "+33142685300", 2, 100.0)
    assert out[0] == OriginateCustomer("c1", "+33142685300", "+33100000000", "sales", "lead1", 30.0)
    assert isinstance(out[1], Publish)
    assert out[1].data == DialerAttempted(
        campaign="sales", lead_id="lead1", number="+33142685300", attempt=2
    )
    assert f.ringing_elapsed(110.0) == [10.0]


def test_an_answer_is_bridged_to_a_ready_agent_within_the_grace() -> None:
    f = floor()
    f.agent_ready("a1", "user/1001", 0.0)
    f.dial("c1", "lead1", "+33142685300", 1, 100.0)
    assert f.customer_answered("c1", 108.0) == [
        NoteHangup("c1", "lead1.1"),  # so a leader that was away can tell how it ended
        OriginateAgent("agent-leg-1", "a1", "user/1001", "c1"),
    ]
    assert f.agent_answered("other-half", 108.4) == []  # not ours: left alone
    assert f.agent_answered("agent-leg-1", 108.5) == [Bridge("c1", "agent-leg-1")]
    (published,) = f.bridged("c1", 108.6)
    assert isinstance(published, Publish)
    assert isinstance(published.data, DialerConnected)
    assert round(published.data.wait_seconds, 3) == 0.6
    assert f.advance(200.0) == []  # connected: the grace no longer applies
    assert f.customer_ended("c1", "NORMAL_CLEARING", 300.0) == [
        ForgetHangup("lead1.1"),
        Settled("lead1", Outcome.CONNECTED, 8.0, live=True),
    ]
    assert f.agent_leg_ended("agent-leg-1", 300.1) == []
    assert list(f.ready) == ["a1"]  # back for the next call
    assert f.busy_since == {}


def test_past_two_seconds_without_an_agent_the_call_is_abandoned() -> None:
    f = floor(identification="prompts/goodbye.wav")
    f.dial("c1", "lead1", "+33142685300", 1, 100.0)
    assert f.customer_answered("c1", 105.0) == [NoteHangup("c1", "lead1.1")]
    assert f.next_deadline() == 107.0
    assert f.advance(106.9) == []
    out = f.advance(107.01)
    assert out[0] == PlayAndHangup("c1", "prompts/goodbye.wav", 3.0)
    assert isinstance(out[1], Publish)
    assert isinstance(out[1].data, DialerDropped)
    f.agent_ready("a1", "user/1001", 108.0)  # too late for c1: nobody is connected
    assert f.customer_ended("c1", "NORMAL_CLEARING", 110.0) == [
        ForgetHangup("lead1.1"),
        Settled("lead1", Outcome.ABANDONED, 5.0, live=True),
    ]


def test_an_agent_freed_within_the_grace_takes_the_waiting_customer() -> None:
    f = floor()
    f.dial("c1", "lead1", "+33142685300", 1, 100.0)
    f.customer_answered("c1", 105.0)
    assert f.agent_ready("a1", "user/1001", 106.0) == [
        OriginateAgent("agent-leg-1", "a1", "user/1001", "c1")
    ]
    assert f.waiting_customers() == 1


def test_a_slow_agent_leg_still_counts_against_the_grace_and_the_agent_is_released() -> None:
    f = floor()
    f.agent_ready("a1", "user/1001", 0.0)
    f.dial("c1", "lead1", "+33142685300", 1, 100.0)
    f.customer_answered("c1", 105.0)
    out = f.advance(107.5)
    assert out[0] == Hangup("agent-leg-1", "ORIGINATOR_CANCEL")
    assert out[1] == PlayAndHangup("c1", "prompts/goodbye.wav", 3.0)
    assert list(f.ready) == ["a1"]
    assert f.agent_answered("agent-leg-1", 107.6) == []  # released: hung up already


def test_unanswered_calls_settle_by_hangup_cause() -> None:
    f = floor()
    for leg in ("b", "n", "x"):
        f.dial(leg, f"lead-{leg}", "+33142685300", 1, 0.0)
    assert f.customer_ended("b", "USER_BUSY", 3.0) == [Settled("lead-b", Outcome.BUSY, 3.0, False)]
    assert f.customer_ended("n", "NO_ANSWER", 30.0)[0].outcome is Outcome.NO_ANSWER  # type: ignore[union-attr]
    assert f.customer_ended("x", "UNALLOCATED_NUMBER", 1.0)[0].outcome is Outcome.FAILED  # type: ignore[union-attr]
    assert f.customer_ended("unknown", "NO_ANSWER", 1.0) == []


def test_a_beep_means_a_machine_hung_up_or_left_the_message() -> None:
    f = floor(detect_machines=True, machine_message="prompts/welcome.wav")
    f.agent_ready("a1", "user/1001", 0.0)
    f.dial("c1", "lead1", "+33142685300", 1, 100.0)
    f.customer_answered("c1", 104.0)
    machine = DialerMachineDetected(
        campaign="sales", lead_id="lead1", attempt=1, leg="c1", after_bridge=False
    )
    assert f.machine_detected("c1", 104.5) == [
        Hangup("agent-leg-1", "ORIGINATOR_CANCEL"),
        PlayAndHangup("c1", "prompts/welcome.wav", 20.0),
        Publish(machine, 104.5),  # no dialer.connected or dropped went out: this is its answer
    ]
    assert list(f.ready) == ["a1"]
    assert f.advance(110.0) == []  # a machine is never an abandoned call
    assert f.customer_ended("c1", "NORMAL_CLEARING", 120.0) == [
        ForgetHangup("lead1.1"),
        Settled("lead1", Outcome.MACHINE, 4.0, live=False),
    ]


def test_a_beep_after_the_bridge_takes_the_machine_back_from_the_agent() -> None:
    """The 2-second rule bridges at once; the beep comes after a machine's greeting."""
    for message in ("prompts/welcome.wav", None):
        f = floor(detect_machines=True, machine_message=message)
        f.agent_ready("a1", "user/1001", 0.0)
        f.dial("c1", "lead1", "+33142685300", 1, 100.0)
        assert f.dial("c2", "lead2", "+33142685300", 1, 100.0)[0].detect_machine  # type: ignore[union-attr]
        f.customer_answered("c1", 104.0)
        f.agent_answered("agent-leg-1", 104.2)
        (connected,) = f.bridged("c1", 104.5)
        assert isinstance(connected, Publish)
        assert isinstance(connected.data, DialerConnected)
        assert connected.data.attempt == 1
        machine = DialerMachineDetected(
            campaign="sales",
            lead_id="lead1",
            attempt=1,
            leg="c1",
            after_bridge=True,
            connected_at=datetime.fromtimestamp(104.5, UTC),  # the dialer.connected it corrects
            connected_wait_seconds=connected.data.wait_seconds,
        )
        expected = [Park("c1"), PlayAndHangup("c1", message, 20.0)] if message else [Hangup("c1")]
        # the agent's leg ends by itself
        assert f.machine_detected("c1", 110.0) == [*expected, Publish(machine, 110.0)]
        assert f.machine_detected("c1", 110.5) == []  # a second beep: told once
        assert f.agent_leg_ended("agent-leg-1", 110.1) == []
        assert list(f.ready) == ["a1"]
        settled = f.customer_ended("c1", "NORMAL_CLEARING", 111.0)[-1]
        assert settled == Settled("lead1", Outcome.MACHINE, 4.0, live=False)
        assert f.machine_detected("c2", 112.0) == []  # still ringing: not a machine yet


def test_commands_become_esl_lines() -> None:
    lines = to_esl(
        OriginateCustomer("c1", "+33142685300", "+331", "sales", "lead1", 25),
        dial_string="sofia/gateway/out/{}".format,
    )
    assert lines == [
        "originate {origination_uuid=c1,cc_role=dialer_customer,cc_leg=c1,cc_campaign=sales,"
        "cc_lead=lead1,originate_timeout=25,ignore_early_media=true,"
        "origination_caller_id_number=+331,hangup_after_bridge=true}"
        "sofia/gateway/out/+33142685300 &park()"
    ]
    assert to_esl(Bridge("c1", "a1"), dial_string=str) == ["uuid_bridge c1 a1"]
    detecting = OriginateCustomer("c1", "+331", "+331", "s", "l", 25, detect_machine=True)
    (line,) = to_esl(detecting, dial_string=str)
    # the API's ``avmd <uuid> start`` never fires: the application runs as the leg answers
    assert "execute_on_answer='avmd_start inbound_channel=0\\,outbound_channel=1'}" in line
    assert to_esl(Park("c1"), dial_string=str) == ["uuid_park c1"]
    assert to_esl(PlayAndHangup("c1", "prompts/goodbye.wav"), dial_string=str) == [
        "uuid_broadcast c1 prompts/goodbye.wav aleg"
    ]
    assert to_esl(NoteHangup("c1", "lead1.2"), dial_string=str) == [
        "uuid_setvar c1 api_hangup_hook hash::insert/cc_dialer_hangup/lead1.2/"
        "${end_uepoch}:${last_bridge_to}:${bridge_uepoch}"
    ]
    assert to_esl(ForgetHangup("lead1.2"), dial_string=str) == [
        "hash delete/cc_dialer_hangup/lead1.2"
    ]


def _event(name: str, role: str, **headers: str) -> EslEvent:
    base = {"Event-Name": name, "Unique-ID": "c1", "variable_cc_role": role, **headers}
    return EslEvent(tuple(base.items()))


def test_switch_events_become_floor_inputs() -> None:
    answered = classify(_event("CHANNEL_ANSWER", "dialer_customer"))
    assert answered is not None
    assert (answered.kind, answered.leg) == ("customer_answered", "c1")
    ended = classify(
        _event("CHANNEL_HANGUP_COMPLETE", "dialer_agent", **{"Hangup-Cause": "USER_BUSY"})
    )
    assert ended is not None
    assert (ended.kind, ended.cause) == ("agent_ended", "USER_BUSY")
    # mod_avmd's events carry no channel variables, only the Unique-ID
    beep = classify(
        EslEvent((("Event-Name", "CUSTOM"), ("Event-Subclass", "avmd::beep"), ("Unique-ID", "c1")))
    )
    assert beep is not None
    assert beep.kind == "machine"
    assert classify(_event("CHANNEL_ANSWER", "agent")) is None  # the ACD's own legs
    assert classify(_event("CHANNEL_ANSWER", "dialer_agent")) is None  # bridged once parked
    parked = classify(_event("CHANNEL_PARK", "dialer_agent"))
    assert parked is not None
    assert parked.kind == "agent_answered"


def test_an_agent_a_queue_took_first_is_skipped_for_the_next_ready_one() -> None:
    f = floor()
    f.agent_ready("a1", "user/1001", 0.0)
    f.agent_ready("a2", "user/1002", 0.0)
    f.dial("c1", "lead1", "+33142685300", 1, 100.0)
    assert f.customer_answered("c1", 101.0)[1:] == [
        OriginateAgent("agent-leg-1", "a1", "user/1001", "c1")
    ]
    # Routing refused the take (a1 was offered an inbound call): a2 is rung instead.
    assert f.agent_taken("agent-leg-1", 101.1) == [
        OriginateAgent("agent-leg-2", "a2", "user/1002", "c1")
    ]
    assert list(f.ready) == []
    # Refused again with nobody left: the customer waits out the grace, then is dropped.
    assert f.agent_taken("agent-leg-2", 101.2) == []
    assert f.waiting_customers() == 1
    assert any(isinstance(r, PlayAndHangup) for r in f.advance(103.5))


def test_a_far_loopback_half_is_not_a_dialer_leg() -> None:
    other_half = _event("CHANNEL_ANSWER", "dialer_customer", variable_cc_leg="c0")
    assert classify(other_half) is None
    own = classify(_event("CHANNEL_ANSWER", "dialer_customer", variable_cc_leg="c1"))
    assert own is not None


def test_calls_adopted_after_a_restart_end_once_and_keep_their_agents() -> None:
    f = floor()
    f.agent_ready("a2", "user/1002", 0.0)
    ringing = AdoptedCall("r1", "lead-r", 2, Adopted.RINGING)
    talking = AdoptedCall("t1", "lead-t", 1, Adopted.CONNECTED, "a1", "agent-leg-a1")
    waiting = AdoptedCall("w1", "lead-w", 1, Adopted.ABANDONED, "a3", "agent-leg-a3")
    assert f.adopt(ringing, 500.0) == []
    assert f.adopt(talking, 500.0) == []
    assert f.adopt(waiting, 500.0) == [
        Hangup("agent-leg-a3", "ORIGINATOR_CANCEL"),
        PlayAndHangup("w1", "prompts/goodbye.wav", 3.0),
    ]
    assert f.ringing_elapsed(501.0) == [1.0]
    assert f.busy_since == {"a1": 500.0}
    assert f.advance(510.0) == []  # adopted calls are past any grace: nothing more to drop
    # The ringing one answers: a ready agent is connected to it as to any dial.
    assert f.customer_answered("r1", 505.0)[1:] == [
        OriginateAgent("agent-leg-1", "a2", "user/1002", "r1")
    ]
    # The conversation goes on until its agent or customer leaves; then it is settled once.
    assert f.agent_leg_ended("agent-leg-a1", 600.0) == []
    assert "a1" not in f.busy_since  # the pacer no longer counts them as busy here
    assert f.customer_ended("t1", "NORMAL_CLEARING", 600.1)[-1] == Settled(
        "lead-t", Outcome.CONNECTED, 0.0, live=True
    )
    assert f.customer_ended("t1", "NORMAL_CLEARING", 600.2) == []
    assert f.customer_ended("w1", "NORMAL_CLEARING", 503.0)[-1] == Settled(
        "lead-w", Outcome.ABANDONED, 0.0, live=True
    )


def test_a_beep_on_a_call_adopted_connected_says_after_the_bridge_without_its_connect() -> None:
    """The leader before sent its dialer.connected: this floor cannot say when."""
    f = floor(detect_machines=True)
    f.adopt(AdoptedCall("c1", "lead1", 2, Adopted.CONNECTED, "a1", "agent-leg-9"), 500.0)
    *_, published = f.machine_detected("c1", 505.0)
    assert published == Publish(
        DialerMachineDetected(
            campaign="sales", lead_id="lead1", attempt=2, leg="c1", after_bridge=True
        ),
        505.0,
    )
