"""Each queue strategy picks the agent mod_callcenter's description says it should."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from cc_routing.core import (
    Acd,
    CancelOffer,
    OfferCall,
    ParkedCall,
    QueueConfig,
    Strategy,
    Tier,
)
from cc_routing.core.testing import agent, answer, build, caller_left, legs_gone, of_type

Q = "q"


def seats(strategy: Strategy, *tiers: Tier, **queue: object) -> Acd:
    """A queue with one agent per tier, a1..aN, logged in one second apart (a1 first)."""
    acd = Acd(rng=random.Random(7))
    acd.configure_queue(QueueConfig(Q, strategy=strategy, **queue), 0.0)  # type: ignore[arg-type]
    for number, tier in enumerate(tiers, start=1):
        acd.upsert_agent(agent(f"a{number}", (Q, tier)), 0.0)
        acd.login(f"a{number}", float(number))
    return acd


def offered(out: Sequence[object]) -> list[str]:
    return [offer.agent_id for offer in of_type(out, OfferCall)]


def serve(acd: Acd, call_id: str, now: float, *, talk: float = 10.0) -> str:
    """Bring a call in, let the (single) offered agent answer and talk; return who took it."""
    out = acd.call_arrived(ParkedCall(call_id, Q), now)
    (offer,) = of_type(out, OfferCall)
    answer(acd, offer.offer_id, now)
    acd.caller_hung_up(call_id, now + talk)
    return offer.agent_id


def positions(count: int) -> list[Tier]:
    return [Tier(position=p) for p in range(1, count + 1)]


def test_longest_idle_agent_is_the_default_and_rotates_work() -> None:
    acd = seats(Strategy.LONGEST_IDLE_AGENT, *positions(3))
    assert QueueConfig(Q).strategy is Strategy.LONGEST_IDLE_AGENT
    assert [serve(acd, f"c{i}", 10.0 + i * 20) for i in range(4)] == ["a1", "a2", "a3", "a1"]


def test_longest_idle_prefers_the_lower_tier_level() -> None:
    acd = seats(Strategy.LONGEST_IDLE_AGENT, Tier(level=2), Tier(level=1))
    assert serve(acd, "c1", 10.0) == "a2"  # a1 idles longer but sits at level 2


def test_ring_all_rings_everyone_and_the_first_answer_wins() -> None:
    acd = seats(Strategy.RING_ALL, *positions(3))
    out = acd.call_arrived(ParkedCall("c1", Q), 10.0)
    offers = of_type(out, OfferCall)
    assert [o.agent_id for o in offers] == ["a1", "a2", "a3"]
    out = answer(acd, offers[1].offer_id, 12.0)
    cancelled = of_type(out, CancelOffer)
    assert {(c.agent_id, c.reason) for c in cancelled} == {
        ("a1", "answered_elsewhere"),
        ("a3", "answered_elsewhere"),
    }
    assert acd.agent_view("a1").state == "available"
    assert acd.agent_view("a2").state == "on_call"


def test_ring_all_adds_an_agent_freed_while_the_call_rings() -> None:
    acd = seats(Strategy.RING_ALL, *positions(2))
    serve_out = acd.call_arrived(ParkedCall("c0", Q), 5.0)
    first = of_type(serve_out, OfferCall)[0]
    legs_gone(acd, answer(acd, first.offer_id, 5.0), 5.1)  # a1 talks; a2 is available
    out = acd.call_arrived(ParkedCall("c1", Q), 10.0)
    assert offered(out) == ["a2"]
    out = caller_left(acd, "c0", 11.0)  # a1 frees up while c1 still rings a2
    assert offered(out) == ["a1"]


def test_round_robin_remembers_the_last_agent_offered() -> None:
    acd = seats(Strategy.ROUND_ROBIN, *positions(3))
    served = [serve(acd, f"c{i}", 10.0 + i * 20) for i in range(5)]
    assert served == ["a1", "a2", "a3", "a1", "a2"]


def test_top_down_starts_from_the_top_for_every_call() -> None:
    acd = seats(Strategy.TOP_DOWN, *positions(3))
    assert [serve(acd, f"c{i}", 10.0 + i * 20) for i in range(3)] == ["a1", "a1", "a1"]


def test_top_down_moves_down_after_a_miss_then_wraps() -> None:
    acd = seats(Strategy.TOP_DOWN, *positions(3))
    for number in (1, 2, 3):
        acd.upsert_agent(agent(f"a{number}", (Q, Tier(position=number)), busy_delay_seconds=0), 0)
    out = acd.call_arrived(ParkedCall("c1", Q), 10.0)
    assert offered(out) == ["a1"]
    out = acd.offer_failed(of_type(out, OfferCall)[0].offer_id, "USER_BUSY", 11.0)
    assert offered(out) == ["a2"]
    out = acd.offer_failed(of_type(out, OfferCall)[0].offer_id, "USER_BUSY", 12.0)
    assert offered(out) == ["a3"]
    out = acd.offer_failed(of_type(out, OfferCall)[0].offer_id, "USER_BUSY", 13.0)
    assert offered(out) == ["a1"]


def test_sequentially_by_agent_order_uses_level_then_position() -> None:
    acd = seats(
        Strategy.SEQUENTIALLY_BY_AGENT_ORDER,
        Tier(level=2, position=1),
        Tier(level=1, position=2),
        Tier(level=1, position=1),
    )
    assert serve(acd, "c1", 10.0) == "a3"
    assert serve(acd, "c2", 30.0) == "a3"


def test_least_talk_time_and_fewest_calls() -> None:
    acd = seats(Strategy.AGENT_WITH_LEAST_TALK_TIME, *positions(2))
    assert serve(acd, "c1", 10.0, talk=100.0) == "a1"
    assert serve(acd, "c2", 200.0, talk=10.0) == "a2"
    assert serve(acd, "c3", 300.0, talk=10.0) == "a2"  # 20 s of talk still < 100 s
    acd = seats(Strategy.AGENT_WITH_FEWEST_CALLS, *positions(2))
    served = [
        serve(acd, "c1", 10.0, talk=1.0),
        serve(acd, "c2", 20.0, talk=500.0),
        serve(acd, "c3", 600.0, talk=1.0),  # tie at one call each: position decides
        serve(acd, "c4", 700.0, talk=1.0),
    ]
    assert served == ["a1", "a2", "a1", "a2"]
    assert [acd.agent_view(a).calls_answered for a in ("a1", "a2")] == [2, 2]


def test_fewest_calls_breaks_ties_by_position() -> None:
    acd = seats(Strategy.AGENT_WITH_FEWEST_CALLS, Tier(position=2), Tier(position=1))
    assert serve(acd, "c1", 10.0) == "a2"
    assert serve(acd, "c2", 30.0) == "a1"
    assert serve(acd, "c3", 50.0) == "a2"


def test_random_is_seeded_reproducible_and_covers_the_lowest_level() -> None:
    def draws(seed: int) -> list[str]:
        acd = Acd(rng=random.Random(seed))
        build(
            [QueueConfig(Q, strategy=Strategy.RANDOM)],
            [agent("a1", Q), agent("a2", Q), agent("a3", Q), agent("a4", (Q, Tier(level=2)))],
            acd=acd,
        )
        return [serve(acd, f"c{i}", 10.0 + i * 20) for i in range(60)]

    first = draws(3)
    assert first == draws(3)
    assert first != draws(4)
    counts = Counter(first)
    assert set(counts) == {"a1", "a2", "a3"}  # a4 sits at level 2: never drawn while others fit
    assert min(counts.values()) >= 8


def test_ring_progressively_adds_an_agent_every_delay_and_keeps_ringing() -> None:
    acd = seats(
        Strategy.RING_PROGRESSIVELY,
        *positions(3),
        ring_progressively_delay_seconds=5.0,
        ring_timeout_seconds=60.0,
    )
    out = acd.call_arrived(ParkedCall("c1", Q), 10.0)
    assert offered(out) == ["a1"]
    out = acd.advance(15.0)
    assert offered(out) == ["a2"]
    assert acd.agent_view("a1").state == "reserved"
    out = acd.advance(20.0)
    second = of_type(out, OfferCall)
    assert [o.agent_id for o in second] == ["a3"]
    out = answer(acd, second[0].offer_id, 21.0)
    assert {c.agent_id for c in of_type(out, CancelOffer)} == {"a1", "a2"}
    legs_gone(acd, out, 21.1)
    assert acd.advance(40.0) == []  # nothing more is added once answered


def test_cancelled_offers_do_not_cost_an_agent_their_place_in_line() -> None:
    acd = seats(Strategy.RING_ALL, *positions(2))
    out = acd.call_arrived(ParkedCall("c1", Q), 10.0)
    offers = of_type(out, OfferCall)
    answer(acd, offers[0].offer_id, 11.0)
    acd.configure_queue(QueueConfig(Q, strategy=Strategy.LONGEST_IDLE_AGENT), 12.0)
    acd.call_arrived(ParkedCall("c2", Q), 20.0)
    (decision,) = acd.explain("c2")
    (candidate,) = decision.candidates
    # a2 was rung for nothing: idle since its login at t=2, not since the cancel at t=11
    assert candidate.agent_id == "a2"
    assert dict(candidate.terms)["idle_seconds"] == 18.0
