"""After a lost link or a restart, routing is rebuilt from what the switch has: the caller who
left unheard is judged by what their channel noted, strays follow one rule.

The resync's plan is pure (the core, the live channels, the hangup notes in; commands out), so
the races of a lost link are played here move by move.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cc_proto.events import CallAbandoned, CallAnswered, CallEnded, CallOutcome
from cc_routing.adapters.freeswitch import HangupNote
from cc_routing.adapters.store import Stored
from cc_routing.core import (
    Acd,
    BridgeCall,
    CancelOffer,
    HangupCall,
    OfferCall,
    ParkedCall,
    QueueConfig,
)
from cc_routing.core.testing import agent, build, event_types, events, of_type
from cc_routing.reconcile import LiveChannel, restore_plan, resync_plan

Q = "support"


def bridging() -> tuple[Acd, str]:
    """A caller whose agent picked up at 3.0: routing asked for the bridge, unconfirmed."""
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q, enqueued_at=1.0), 1.0), OfferCall)
    assert of_type(acd.agent_answered(offer.offer_id, 3.0), BridgeCall)
    return acd, offer.offer_id


def test_a_bridge_that_happened_while_the_link_was_down_is_an_answered_call() -> None:
    acd, leg = bridging()
    note = HangupNote(hung_up_at=20.0, bridged_to=leg, bridged_at=3.2)
    out = resync_plan(acd, [], now=30.0, snapshot_at=30.0, notes={"c1": note})
    assert "call.abandoned" not in event_types(out)
    (answered,) = events(out, CallAnswered)
    assert answered.wait_seconds == 2.2  # from the queue entry to FreeSWITCH's bridge
    (ended,) = events(out, CallEnded)
    assert ended.outcome is CallOutcome.ANSWERED
    assert ended.talk_seconds == 16.8  # to FreeSWITCH's hangup, not to the resync
    assert acd.active_calls() == []


def test_a_caller_who_left_before_the_bridge_abandoned_at_their_hangup_time() -> None:
    acd, _leg = bridging()
    note = HangupNote(hung_up_at=3.1)  # gone before the bridge: no partner noted
    out = resync_plan(acd, [], now=30.0, snapshot_at=30.0, notes={"c1": note})
    assert "call.answered" not in event_types(out)
    (abandoned,) = events(out, CallAbandoned)
    assert abandoned.wait_seconds == 2.1


def test_a_bridge_to_another_leg_is_not_this_agents_answer() -> None:
    acd, _leg = bridging()
    note = HangupNote(hung_up_at=20.0, bridged_to="someone-else", bridged_at=3.2)
    out = resync_plan(acd, [], now=30.0, snapshot_at=30.0, notes={"c1": note})
    assert events(out, CallAnswered) == []
    assert len(events(out, CallAbandoned)) == 1


def test_a_caller_still_there_keeps_their_call() -> None:
    acd, leg = bridging()
    live = [LiveChannel("c1", {"cc_queue": Q}, "ACTIVE"), LiveChannel(leg, {}, "ACTIVE")]
    out = resync_plan(acd, live, now=4.0, snapshot_at=4.0, notes={})
    assert "call.ended" not in event_types(out)
    assert acd.active_calls() == ["c1"]


def test_a_hung_up_ring_whose_end_was_lost_with_the_link_frees_the_agent() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q, enqueued_at=1.0), 1.0), OfferCall)
    acd.caller_hung_up("c1", 1.5)  # the agent's leg is hung up; its end is never heard
    acd.call_arrived(ParkedCall("c2", Q, enqueued_at=1.6), 1.6)
    assert acd.agent_view("a1").offerable is False
    caller = LiveChannel("c2", {"cc_queue": Q, "cc_enqueued_at": "1.6"}, "ACTIVE")
    out = resync_plan(acd, [caller], now=1.8, snapshot_at=1.8, notes={})
    assert of_type(out, OfferCall) == []  # too recent to judge: it may not be listed yet
    out = resync_plan(acd, [caller], now=4.0, snapshot_at=4.0, notes={})
    (again,) = of_type(out, OfferCall)
    assert (again.agent_id, again.call_id) == ("a1", "c2")
    assert offer.offer_id != again.offer_id


def test_a_caller_left_over_from_a_finished_conversation_is_let_go_by_both() -> None:
    """Restore and resync share one rule for callers routing has no record of."""
    leftover = LiveChannel("old", {"cc_queue": Q, "cc_answered_at": "5.0"}, "ACTIVE")
    newcomer = LiveChannel("new", {"cc_queue": Q}, "ACTIVE")
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    out = resync_plan(acd, [leftover, newcomer], now=10.0, snapshot_at=10.0, notes={})
    assert of_type(out, HangupCall) == [HangupCall("old", "NORMAL_CLEARING")]
    assert [o.call_id for o in of_type(out, OfferCall)] == ["new"]
    after = Acd()
    after.configure_queue(QueueConfig(Q), 10.0)
    after.upsert_agent(agent("a1", Q), 10.0)
    after.login("a1", 10.0)
    stored = Stored(agent_states=[], ledger=[], callbacks=[])
    out = restore_plan(after, stored, [leftover, newcomer], {}, notes={}, now=10.0)
    assert of_type(out, HangupCall) == [HangupCall("old", "NORMAL_CLEARING")]
    assert [o.call_id for o in of_type(out, OfferCall)] == ["new"]


def test_a_ring_left_over_by_a_stopped_instance_is_hung_up_before_the_agent_rings_again() -> None:
    after = build([QueueConfig(Q)], [agent("a1", Q)], now=10.0)
    ring = LiveChannel(
        "leg-old",
        {"cc_role": "agent", "cc_leg": "leg-old", "cc_offer_agent": "a1", "cc_call_id": "c1"},
        "RINGING",
    )
    caller = LiveChannel("c1", {"cc_queue": Q, "cc_enqueued_at": "5.0"}, "ACTIVE")
    stored = Stored(agent_states=[], ledger=[], callbacks=[])
    out = restore_plan(after, stored, [ring, caller], {}, notes={}, now=10.0)
    assert [c.offer_id for c in of_type(out, CancelOffer)] == ["leg-old"]
    assert of_type(out, OfferCall) == []  # a1's phone still rings with the old leg
    (offer,) = of_type(after.agent_hung_up("leg-old", 10.2, cause="ORIGINATOR_CANCEL"), OfferCall)
    assert (offer.agent_id, offer.call_id) == ("a1", "c1")


def placed_row(**answered: object) -> Any:
    """The ledger row of alice's click-to-call c1 to +331 (placed at 5.0)."""
    row = {
        "tenant": "t",
        "call_id": "c1",
        "queue": Q,
        "priority": 0,
        "enqueued_at": 5.0,
        "caller_number": None,
        "agent_id": "a1",
        "agent_leg": None,
        "answered_at": None,
        "bridge_requested_at": None,
        "placed_number": "+331",
        "customer_id": "CRM-1",
        "held_since": None,
        "hold_seconds": 0.0,
        "hangup_requested": None,
    }
    return SimpleNamespace(**(row | answered))


def test_a_click_to_call_dialling_its_customer_at_a_restart_is_settled_as_failed() -> None:
    """The agent picked up, the customer's phone rings: both legs are hung up, the call ends
    failed once, and the agent is offered nothing until their leg is gone."""
    after = build([QueueConfig(Q)], [agent("a1", Q)], now=10.0)
    agent_leg = LiveChannel(
        "leg-a",
        {"cc_role": "agent", "cc_leg": "leg-a", "cc_offer_agent": "a1", "cc_call_id": "c1"},
        "ACTIVE",
    )
    customer = LiveChannel("c1", {"cc_role": "customer", "cc_leg": "c1", "cc_call_id": "c1"})
    stored = Stored(agent_states=[], ledger=[placed_row()], callbacks=[])
    out = restore_plan(after, stored, [agent_leg, customer], {}, notes={}, now=10.0)
    (ended,) = events(out, CallEnded)
    assert (ended.outcome, ended.hangup_by) == (CallOutcome.FAILED, "system")
    assert of_type(out, HangupCall) == [HangupCall("c1", "ORIGINATOR_CANCEL")]
    assert [c.offer_id for c in of_type(out, CancelOffer)] == ["leg-a"]
    assert after.call_view("c1") is None


def test_an_answered_click_to_call_comes_back_on_its_agent_as_outbound() -> None:
    after = build([QueueConfig(Q)], [agent("a1", Q)], now=10.0)
    agent_leg = LiveChannel(
        "leg-a",
        {"cc_role": "agent", "cc_leg": "leg-a", "cc_offer_agent": "a1", "cc_call_id": "c1"},
        "ACTIVE",
    )
    customer = LiveChannel("c1", {"cc_role": "customer", "cc_leg": "c1"}, "ACTIVE")
    row = placed_row(agent_leg="leg-a", answered_at=7.0)
    stored = Stored(agent_states=[], ledger=[row], callbacks=[])
    out = restore_plan(
        after, stored, [agent_leg, customer], {"a1": agent("a1", Q)}, notes={}, now=10.0
    )
    assert event_types(out) == []  # nothing to tell: the conversation goes on
    assert of_type(out, HangupCall) == []
    assert of_type(out, CancelOffer) == []
    view = after.call_view("c1")
    assert view is not None
    assert (view.status, view.direction, view.agent_id) == ("connected", "outbound", "a1")
    assert (view.dialed_number, view.customer_id) == ("+331", "CRM-1")
    (ended,) = events(after.caller_hung_up("c1", 12.0), CallEnded)
    assert (ended.outcome, ended.talk_seconds) == (CallOutcome.ANSWERED, 5.0)
