"""Every routing decision can be explained: who was chosen, the score terms, why others were not."""

from __future__ import annotations

import json

from cc_routing.core import (
    Acd,
    OfferCall,
    ParkedCall,
    QueueConfig,
    RelaxationStep,
    Strategy,
    Tier,
)
from cc_routing.core.testing import agent, answer, build, of_type

Q = "support"


def test_a_decision_names_the_chosen_the_runners_up_and_the_skipped() -> None:
    queue = QueueConfig(Q, requirements=(RelaxationStep(0, "billing >= 2"),), wrap_up_seconds=60)
    acd = build(
        [queue],
        [
            agent("talker", Q, skills={"billing": 5}),
            agent("wrapper", Q, skills={"billing": 5}),
            agent("luncher", Q, skills={"billing": 5}),
            agent("novice", Q, skills={"billing": 1}),
            agent("first", Q, skills={"billing": 3}),
            agent("second", Q, skills={"billing": 4}),
            agent("away", Q, skills={"billing": 5}),
        ],
        login=False,
    )
    for order, agent_id in enumerate(["talker", "wrapper", "luncher", "novice", "first", "second"]):
        acd.login(agent_id, 0.1 * (order + 1))  # so longest-idle order is this order
    for call_id, who in (("t1", "talker"), ("t2", "wrapper")):
        (offer,) = of_type(acd.call_arrived(ParkedCall(call_id, Q), 1.0), OfferCall)
        assert offer.agent_id == who
        answer(acd, offer.offer_id, 1.0)
    acd.caller_hung_up("t2", 5.0)
    acd.set_break("luncher", "lunch", 6.0)
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 10.0), OfferCall)
    assert offer.agent_id == "first"
    (decision,) = acd.explain("c1")
    assert (decision.trigger, decision.strategy, decision.requirement) == (
        "arrival",
        "longest-idle-agent",
        "billing >= 2",
    )
    assert decision.chosen == ("first",)
    assert [(c.agent_id, c.chosen) for c in decision.candidates] == [
        ("first", True),
        ("second", False),
    ]
    assert dict(decision.candidates[0].terms) == {
        "tier_level": 1,
        "idle_seconds": 9.5,
        "tier_position": 1,
    }
    reasons = {s.agent_id: s.reason for s in decision.skipped}
    assert reasons == {
        "talker": "on call t1",
        "wrapper": "wrap-up until 65.000",
        "luncher": "break: lunch",
        "novice": "requirement not met: billing is 1, needs >= 2",
        "away": "logged_out",
    }
    document = json.loads(json.dumps(decision.as_dict()))
    assert document["chosen"] == ["first"]
    assert document["candidates"][0]["terms"]["idle_seconds"] == 9.5


def test_waiting_with_nobody_free_is_explained_too() -> None:
    acd = build(
        [QueueConfig(Q, ring_timeout_seconds=5)], [agent("a1", Q, no_answer_delay_seconds=30)]
    )
    acd.call_arrived(ParkedCall("c0", Q), 0.0)
    acd.advance(5.0)  # a1 misses c0 and rests until 35
    acd.call_arrived(ParkedCall("c1", Q), 6.0)
    (decision,) = acd.explain("c1")
    assert decision.chosen == ()
    assert [(s.agent_id, s.reason) for s in decision.skipped] == [
        ("a1", "resting after a missed offer until 35.000")
    ]
    (retry,) = acd.explain("c0")[1:2]
    assert retry.trigger == "retry"
    assert retry.chosen == ()


def test_a_ringing_member_is_named_with_the_call_it_rings_for() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)])
    acd.call_arrived(ParkedCall("c0", Q), 0.0)
    acd.call_arrived(ParkedCall("c1", Q), 1.0)
    (decision,) = acd.explain("c1")
    assert decision.skipped[0].reason == "reserved: ringing for call c0"


def test_rotating_strategies_say_where_they_continued() -> None:
    acd = build(
        [QueueConfig(Q, strategy=Strategy.ROUND_ROBIN)],
        [agent("a1", (Q, Tier(position=1))), agent("a2", (Q, Tier(position=2)))],
    )
    (offer,) = of_type(acd.call_arrived(ParkedCall("c1", Q), 0.0), OfferCall)
    answer(acd, offer.offer_id, 0.0)
    acd.call_arrived(ParkedCall("c2", Q), 1.0)
    (decision,) = acd.explain("c2")
    assert decision.trigger == "arrival; rotation after seat (1, 1.0)"
    assert dict(decision.candidates[0].terms)["tier_position"] == 2


def test_decisions_are_kept_for_recent_calls_only() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)], acd=Acd(explain_capacity=3))
    for number in range(5):
        acd.call_arrived(ParkedCall(f"c{number}", Q), float(number))
    assert acd.explain("c0") == ()
    assert acd.explain("c1") == ()
    assert [acd.explain(f"c{n}")[0].call_id for n in (2, 3, 4)] == ["c2", "c3", "c4"]


def test_explanations_can_be_switched_off() -> None:
    acd = build([QueueConfig(Q)], [agent("a1", Q)], acd=Acd(explain=False))
    acd.call_arrived(ParkedCall("c1", Q), 0.0)
    assert acd.explain("c1") == ()


def test_a_decision_shows_a_wrap_up_extended_since_the_last_state_change() -> None:
    """The decision keeps each member as they were when it was made, even a change that moved
    no state (a wrap-up extended), and not as they are when it is read."""
    acd = build([QueueConfig(Q, wrap_up_seconds=30)], [agent("wrapper", Q)])
    (offer,) = of_type(acd.call_arrived(ParkedCall("t1", Q), 1.0), OfferCall)
    answer(acd, offer.offer_id, 1.0)
    acd.caller_hung_up("t1", 5.0)  # wrap-up until 35
    acd.extend_wrap_up("wrapper", 20.0, 6.0)  # now until 55
    assert not of_type(acd.call_arrived(ParkedCall("c1", Q), 7.0), OfferCall)
    acd.extend_wrap_up("wrapper", 20.0, 8.0)  # after the decision: until 75
    (decision,) = acd.explain("c1")
    assert [(s.agent_id, s.reason) for s in decision.skipped] == [
        ("wrapper", "wrap-up until 55.000")
    ]
