"""The blending rule: when inbound keeps its blended agents from outbound, and when it lets go."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cc_routing.dialer.blending import (
    BlendRule,
    InboundQueue,
    keeping_queues,
    keeps_agents,
    may_take,
)


def queue(
    name: str = "support",
    *,
    waiting: int = 0,
    oldest: float | None = None,
    level: float | None = 1.0,
    threshold: float = 20.0,
    target: float = 0.8,
) -> InboundQueue:
    return InboundQueue(name, waiting, oldest, threshold, target, level)


# --- a queue that lets outbound have its agents -------------------------------------------------


def test_a_queue_meeting_its_service_level_with_nobody_waiting_lets_outbound_take_agents() -> None:
    assert not keeps_agents(queue(), keeping=False)


def test_callers_waiting_within_the_threshold_do_not_stop_outbound() -> None:
    assert not keeps_agents(queue(waiting=3, oldest=19.9), keeping=False)


def test_a_caller_waiting_as_long_as_the_threshold_keeps_the_agents() -> None:
    assert keeps_agents(queue(waiting=1, oldest=20.0), keeping=False)
    assert keeps_agents(queue(waiting=1, oldest=45.0), keeping=False)


def test_a_service_level_below_target_keeps_the_agents_though_nobody_waits() -> None:
    assert keeps_agents(queue(level=0.79), keeping=False)
    assert not keeps_agents(queue(level=0.8), keeping=False)  # at target is meeting it


def test_a_wait_reported_without_callers_waiting_is_ignored() -> None:
    assert not keeps_agents(queue(waiting=0, oldest=60.0), keeping=False)


def test_without_a_recent_measure_only_the_waits_decide() -> None:
    assert not keeps_agents(queue(level=None), keeping=False)
    assert keeps_agents(queue(level=None, waiting=1, oldest=21.0), keeping=False)
    assert not keeps_agents(queue(level=None), keeping=True)  # nobody waits: let go


# --- a queue keeping its agents lets go only when clearly back ------------------------------------


def test_a_keeping_queue_holds_on_at_target_until_the_margin_above_it() -> None:
    assert keeps_agents(queue(level=0.8), keeping=True)
    assert keeps_agents(queue(level=0.849), keeping=True)
    assert not keeps_agents(queue(level=0.85), keeping=True)


def test_a_keeping_queue_holds_on_while_a_caller_has_waited_half_the_threshold() -> None:
    assert keeps_agents(queue(waiting=1, oldest=10.0), keeping=True)
    assert not keeps_agents(queue(waiting=1, oldest=9.9), keeping=True)
    assert not keeps_agents(queue(waiting=1, oldest=9.9), keeping=False)


def test_a_target_near_one_lets_go_at_one() -> None:
    assert keeps_agents(queue(level=0.99, target=0.98), keeping=True)
    assert not keeps_agents(queue(level=1.0, target=0.98), keeping=True)
    assert not keeps_agents(queue(level=1.0, target=1.0), keeping=True)


def test_the_bands_follow_the_rule_given() -> None:
    strict = BlendRule(release_margin=0.0, keep_wait_share=0.5, release_wait_share=0.25)
    assert keeps_agents(queue(waiting=1, oldest=10.0), keeping=False, rule=strict)
    assert keeps_agents(queue(waiting=1, oldest=5.0), keeping=True, rule=strict)
    assert not keeps_agents(queue(waiting=1, oldest=4.9, level=0.8), keeping=True, rule=strict)


@pytest.mark.parametrize(
    "rule",
    [
        {"release_margin": -0.1},
        {"release_margin": 1.0},
        {"release_wait_share": 0.0},
        {"keep_wait_share": 0.4, "release_wait_share": 0.5},
    ],
)
def test_bands_that_would_flap_are_refused(rule: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BlendRule(**rule)


def test_a_day_of_one_queue_goes_through_each_band_once() -> None:
    """Misses, recovering through the band (held), back above it (let go), dipping into the band
    from above (still let go), missing again."""
    looks = [
        (queue(level=0.9), False),
        (queue(level=0.9, waiting=1, oldest=25.0), True),
        (queue(level=0.7), True),
        (queue(level=0.82), True),
        (queue(level=0.82, waiting=1, oldest=12.0), True),
        (queue(level=0.9, waiting=1, oldest=12.0), True),
        (queue(level=0.9, waiting=1, oldest=3.0), False),
        (queue(level=0.82, waiting=1, oldest=12.0), False),
        (queue(level=0.78), True),
    ]
    keeping = False
    for looked, expected in looks:
        keeping = keeps_agents(looked, keeping=keeping)
        assert keeping is expected, looked


# --- several queues, and who may be taken ---------------------------------------------------------


def test_each_queue_keeps_its_own_state() -> None:
    queues = [queue("sales", level=0.82), queue("vip", level=0.82), queue("billing", level=0.5)]
    assert keeping_queues(queues, {"vip"}) == {"vip", "billing"}
    assert keeping_queues(queues, set()) == {"billing"}
    assert keeping_queues([], {"vip"}) == frozenset()


def test_an_agent_is_taken_only_when_no_queue_they_serve_keeps_them() -> None:
    assert may_take({"sales"}, {"vip"})
    assert not may_take({"sales", "vip"}, {"vip"})
    assert may_take(set(), {"vip"})  # outbound only


levels = st.floats(min_value=0.0, max_value=1.0)
waits = st.one_of(st.none(), st.floats(min_value=0.0, max_value=300.0))


@given(level=st.one_of(st.none(), levels), wait=waits, target=st.floats(0.05, 1.0))
def test_the_answer_for_the_same_figures_never_flips_on_its_own(
    level: float | None, wait: float | None, target: float
) -> None:
    """No flapping: looking again at the same figures gives the same answer."""
    looked = queue(level=level, waiting=int(wait is not None), oldest=wait, target=target)
    for keeping in (False, True):
        first = keeps_agents(looked, keeping=keeping)
        assert keeps_agents(looked, keeping=first) is first


@given(level=st.one_of(st.none(), levels), wait=waits, target=st.floats(0.05, 1.0))
def test_a_keeping_queue_never_lets_go_earlier_than_one_that_is_not(
    level: float | None, wait: float | None, target: float
) -> None:
    looked = queue(level=level, waiting=int(wait is not None), oldest=wait, target=target)
    if keeps_agents(looked, keeping=False):
        assert keeps_agents(looked, keeping=True)
    missing = (level is not None and level < target) or (wait is not None and wait >= 20.0)
    assert keeps_agents(looked, keeping=False) is missing
