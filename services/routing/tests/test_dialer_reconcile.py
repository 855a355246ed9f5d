"""The dialer's recovery plan after a restart (which leads are adopted, settled or hung up), and
its re-sync with the switch after a lost link (what each floor missed)."""

from __future__ import annotations

import itertools

from cc_routing.adapters.dialer_freeswitch import DialerInput
from cc_routing.adapters.freeswitch import HangupNote
from cc_routing.dialer.calls import (
    Adopted,
    AdoptedCall,
    Floor,
    FloorSettings,
    LegState,
    Result,
    Settled,
)
from cc_routing.dialer.campaigns import Outcome
from cc_routing.dialer_reconcile import (
    LiveLeg,
    ended_meanwhile,
    notes_wanted,
    outcome_from_note,
    plan_link_resync,
    plan_recovery,
)
from cc_routing.dialer_store import DialingLead
from cc_routing.reconcile import LiveChannel


def customer(uuid: str, lead: str, callstate: str, **more: str) -> LiveChannel:
    variables = {"cc_role": "dialer_customer", "cc_leg": uuid, "cc_lead": lead, **more}
    return LiveChannel(uuid, variables, callstate)


def agent(uuid: str, agent_id: str, customer_leg: str) -> LiveChannel:
    variables = {
        "cc_role": "dialer_agent",
        "cc_leg": uuid,
        "cc_agent": agent_id,
        "cc_dialer_customer": customer_leg,
    }
    return LiveChannel(uuid, variables, "ACTIVE")


def test_live_legs_are_adopted_by_their_campaign_and_the_rest_settled_or_hung_up() -> None:
    dialing = [
        DialingLead("sales", "ringing", 2),
        DialingLead("sales", "talking", 1),
        DialingLead("renewals", "waiting", 1),
        DialingLead("sales", "gone", 3),
    ]
    live = [
        customer("c-ring", "ringing", "RINGING"),
        customer("c-talk", "talking", "ACTIVE", bridge_uuid="a-talk"),
        agent("a-talk", "a1", "c-talk"),
        # The far half of the loopback the agent's leg was: the same variables, not the leg.
        LiveChannel("a-talk-b", {**agent("a-talk", "a1", "c-talk").variables}, "ACTIVE"),
        customer("c-wait", "waiting", "ACTIVE"),
        agent("a-wait", "a3", "c-wait"),
        customer("c-old", "settled-already", "ACTIVE"),
        agent("a-lost", "a4", "c-gone-meanwhile"),
        LiveChannel("caller", {"cc_queue": "support"}, "ACTIVE"),  # routing's, not ours
    ]
    plan = plan_recovery(dialing, live)
    assert plan.adopted == {
        "sales": [
            AdoptedCall("c-ring", "ringing", 2, Adopted.RINGING),
            AdoptedCall("c-talk", "talking", 1, Adopted.CONNECTED, "a1", "a-talk"),
        ],
        "renewals": [AdoptedCall("c-wait", "waiting", 1, Adopted.ABANDONED, "a3", "a-wait")],
    }
    assert plan.gone == [DialingLead("sales", "gone", 3)]
    assert sorted(plan.strays) == ["a-lost", "c-old"]


def test_an_attempt_that_ended_unheard_is_judged_by_its_hangup_note() -> None:
    assert outcome_from_note(None) is Outcome.NO_ANSWER
    assert outcome_from_note(HangupNote(100.0, None, None)) is Outcome.ABANDONED
    assert outcome_from_note(HangupNote(100.0, "agent-leg", 90.0)) is Outcome.CONNECTED


def test_what_changed_between_the_snapshot_and_the_adoption_reaches_the_floor() -> None:
    ringing = AdoptedCall("c1", "l1", 1, Adopted.RINGING)
    talking = AdoptedCall("c2", "l2", 1, Adopted.CONNECTED, "a1", "a-leg")
    assert ended_meanwhile(ringing, {"c1": False}) == []
    assert [i.kind for i in ended_meanwhile(ringing, {"c1": True})] == ["customer_answered"]
    gone = ended_meanwhile(ringing, {})
    assert [(i.kind, i.cause) for i in gone] == [("customer_ended", "NO_ANSWER")]
    assert ended_meanwhile(talking, {"c2": True, "a-leg": True}) == []
    assert [i.kind for i in ended_meanwhile(talking, {"c2": True})] == ["agent_ended"]
    assert [i.kind for i in ended_meanwhile(talking, {})] == ["customer_ended"]


# --- after a lost link ----------------------------------------------------------------------------


def floor_with_every_state() -> Floor:
    """A floor holding one call in each state, agent legs numbered in order."""
    counter = itertools.count(1)
    f = Floor(FloorSettings("sales", "+33100000000"), new_id=lambda: f"a-leg-{next(counter)}")
    for leg in ("ringing", "waiting", "connecting", "connected", "abandoned"):
        f.dial(leg, f"lead-{leg}", "+33142685300", 1, 100.0)
    f.agent_ready("a1", "user/1001", 101.0)
    f.customer_answered("connecting", 101.0)  # a-leg-1 rings for it
    f.agent_ready("a2", "user/1002", 101.0)
    f.customer_answered("connected", 101.0)  # a-leg-2
    f.bridged("connected", 101.5)
    f.customer_answered("waiting", 101.0)  # no agent left
    f.customer_answered("abandoned", 99.0)
    f.advance(101.5)  # past the grace: its identification and hangup went nowhere
    return f


def states(f: Floor) -> dict[str, LegState]:
    return {call.leg: call.state for call in f.calls()}


def test_the_floor_shows_each_call_with_its_agent_leg() -> None:
    f = floor_with_every_state()
    assert states(f) == {
        "ringing": LegState.RINGING,
        "waiting": LegState.WAITING,
        "connecting": LegState.CONNECTING,
        "connected": LegState.CONNECTED,
        "abandoned": LegState.ABANDONED,
    }
    assert {c.leg: c.agent_leg for c in f.calls() if c.agent_leg} == {
        "connecting": "a-leg-1",
        "connected": "a-leg-2",
    }


AS_THE_FLOOR_LEFT_THEM = {
    "ringing": LiveLeg(False),
    "waiting": LiveLeg(True),
    "connecting": LiveLeg(True),
    "a-leg-1": LiveLeg(False),
    "connected": LiveLeg(True, "a-leg-2"),
    "a-leg-2": LiveLeg(True, "connected"),
    "abandoned": LiveLeg(True),
}
"""The switch's legs when nothing happened to them while the link was down."""


def test_nothing_changed_on_the_switch_means_nothing_to_do_but_lost_hangups() -> None:
    f = floor_with_every_state()
    plan = plan_link_resync(f.calls(), {"a-leg-1", "a-leg-2"}, AS_THE_FLOOR_LEFT_THEM, {})
    assert plan.inputs == []
    assert plan.hang_up == ["abandoned"]  # its hangup was sent while the link was down


def test_every_leg_that_ended_while_the_link_was_down_is_settled_by_the_floor() -> None:
    f = floor_with_every_state()
    note = {"lead-connecting.1": HangupNote(103.0, "a-leg-1", 102.0)}  # bridged, then ended
    held = {"a-leg-1", "a-leg-2", "a-leg-released"}  # the last one's agent is still held
    plan = plan_link_resync(f.calls(), held, {}, note)
    assert [(i.kind, i.leg) for i in plan.inputs] == [
        ("customer_ended", "ringing"),
        ("customer_ended", "waiting"),
        ("customer_bridged", "connecting"),
        ("customer_ended", "connecting"),
        ("customer_ended", "connected"),
        ("customer_ended", "abandoned"),
        ("agent_ended", "a-leg-1"),
        ("agent_ended", "a-leg-2"),
        ("agent_ended", "a-leg-released"),
    ]
    assert plan.hang_up == []
    settled = {r.lead_id: r.outcome for r in feed(f, plan.inputs) if isinstance(r, Settled)}
    assert settled == {
        "lead-ringing": Outcome.NO_ANSWER,  # no note: it never answered as far as we know
        "lead-waiting": Outcome.ABANDONED,
        "lead-connecting": Outcome.CONNECTED,
        "lead-connected": Outcome.CONNECTED,
        "lead-abandoned": Outcome.ABANDONED,
    }
    assert f.legs == {}
    assert f.agent_legs == {}


def test_an_agent_leg_rung_for_a_customer_who_left_unbridged_is_an_abandon() -> None:
    f = floor_with_every_state()
    plan = plan_link_resync(f.calls(), {"a-leg-1"}, {"a-leg-1": LiveLeg(True)}, {})
    settled = [r for r in feed(f, plan.inputs) if isinstance(r, Settled)]
    assert {r.lead_id: r.outcome for r in settled}["lead-connecting"] is Outcome.ABANDONED
    assert notes_wanted(f.calls(), {}) == []  # every call is settled now


def test_what_answered_or_bridged_while_the_link_was_down_goes_on() -> None:
    f = floor_with_every_state()
    live = {**AS_THE_FLOOR_LEFT_THEM, "ringing": LiveLeg(True), "a-leg-1": LiveLeg(True)}
    plan = plan_link_resync(f.calls(), {"a-leg-1", "a-leg-2"}, live, {})
    assert [(i.kind, i.leg) for i in plan.inputs] == [
        ("customer_answered", "ringing"),
        ("agent_answered", "a-leg-1"),  # picked up: the floor asks for the bridge
    ]
    bridged = {**live, "connecting": LiveLeg(True, "a-leg-1")}
    plan = plan_link_resync(f.calls(), {"a-leg-1", "a-leg-2"}, bridged, {})
    assert ("customer_bridged", "connecting") in [(i.kind, i.leg) for i in plan.inputs]
    out = feed(f, plan.inputs)
    assert states(f)["connecting"] is LegState.CONNECTED
    assert states(f)["ringing"] is LegState.WAITING
    assert not [r for r in out if isinstance(r, Settled)]


def test_a_live_agent_leg_the_floor_let_go_while_away_is_hung_up_again() -> None:
    f = floor_with_every_state()
    live = {"connected": LiveLeg(True, "a-leg-2"), "a-leg-2": LiveLeg(True), "a-old": LiveLeg(True)}
    plan = plan_link_resync(f.calls(), {"a-leg-2", "a-old"}, live, {})
    assert plan.hang_up == ["a-old"]
    assert ("agent_ended", "a-old") not in [(i.kind, i.leg) for i in plan.inputs]


def test_only_customers_gone_with_an_agent_leg_rung_need_their_note() -> None:
    f = floor_with_every_state()
    assert [c.leg for c in notes_wanted(f.calls(), {})] == ["connecting"]
    assert notes_wanted(f.calls(), {"connecting": LiveLeg(True)}) == []


def feed(f: Floor, inputs: list[DialerInput]) -> list[Result]:
    """Give the floor the inputs as the runtime does (without a pool: agents come back ready)."""
    out: list[Result] = []
    for i in inputs:
        if i.kind == "customer_ended":
            out += f.customer_ended(i.leg, i.cause or "NORMAL_CLEARING", 110.0)
        elif i.kind == "agent_ended":
            out += f.agent_leg_ended(i.leg, 110.0)
        else:
            step = {
                "customer_answered": f.customer_answered,
                "customer_bridged": f.bridged,
                "agent_answered": f.agent_answered,
            }[i.kind]
            out += step(i.leg, 110.0)
    return out
