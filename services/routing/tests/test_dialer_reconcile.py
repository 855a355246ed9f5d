"""The dialer's recovery plan after a restart: which leads are adopted, settled or hung up."""

from __future__ import annotations

from cc_routing.adapters.freeswitch import HangupNote
from cc_routing.dialer.calls import Adopted, AdoptedCall
from cc_routing.dialer.campaigns import Outcome
from cc_routing.dialer_reconcile import ended_meanwhile, outcome_from_note, plan_recovery
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
