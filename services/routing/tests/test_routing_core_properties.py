"""Properties over random call-center days: no double offers, FIFO within a priority, one end each.

A random world (queues, agents, arrivals, answers, bridges, misses, hangups, callbacks, breaks,
time) drives the core while an observer plays FreeSWITCH: it tracks agent legs and queue contents
from the commands alone and checks every offer against them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cc_proto.events import (
    CallAbandoned,
    CallAgentMissed,
    CallAnswered,
    CallCallbackRequested,
    CallEnded,
    CallOffered,
    CallOutcome,
    CallOverflowed,
)
from cc_routing.core import (
    Acd,
    AgentConfig,
    BridgeCall,
    CancelOffer,
    Command,
    Destination,
    DialCustomer,
    OfferCall,
    ParkedCall,
    PublishEvent,
    QueueConfig,
    RelaxationStep,
    RoutingError,
    Strategy,
    Tier,
)
from cc_routing.core.agents import MemberSnapshot
from cc_routing.core.explain import DecisionRecord
from cc_routing.core.offering import Offering
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.testing import caller_left

QUEUES = ("q0", "q1")
OWN = (None, "billing >= 2")
CAUSES = ("NO_ANSWER", "USER_BUSY", "CALL_REJECTED", "USER_NOT_REGISTERED", "ORIGINATOR_CANCEL")
LOOSENING = (
    RelaxationStep(0, "billing >= 3"),
    RelaxationStep(20, "billing"),
    RelaxationStep(40, None),
)


@dataclass
class Waiting:
    """The observer's view of one caller in a queue."""

    priority: int
    enqueued_at: float
    seq: int
    own: str | None
    rings: int = 0


@dataclass
class Observer:
    """Plays the switch: tracks legs and queues from commands, and checks each offer."""

    requirements: dict[str, bool]
    own: dict[str, str | None] = field(default_factory=dict)
    legs: dict[str, tuple[str, str]] = field(default_factory=dict)  # offer -> (agent, call)
    answered_legs: set[str] = field(default_factory=set)
    leg_of_agent: dict[str, str] = field(default_factory=dict)
    queues: dict[str, dict[str, Waiting]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    connected: dict[str, str] = field(default_factory=dict)  # call -> offer
    bridging: dict[str, str] = field(default_factory=dict)  # bridge asked for, not yet confirmed
    dialing: dict[str, str] = field(default_factory=dict)
    ended: Counter[str] = field(default_factory=Counter)
    closings: Counter[str] = field(default_factory=Counter)
    visits: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, CallOutcome] = field(default_factory=dict)
    last_closing: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    offers_checked: int = 0

    def end_leg(self, offer_id: str) -> None:
        leg = self.legs.pop(offer_id, None)
        self.answered_legs.discard(offer_id)
        if leg is None:
            return
        agent_id, call_id = leg
        if self.leg_of_agent.get(agent_id) == offer_id:
            del self.leg_of_agent[agent_id]
        waiting = self.queues.get(self.where.get(call_id, ""), {}).get(call_id)
        if waiting is not None:
            waiting.rings -= 1

    def take(self, commands: list[Command], now: float) -> None:
        for command in commands:
            if isinstance(command, OfferCall):
                self.check_offer(command)
            elif isinstance(command, CancelOffer):
                self.end_leg(command.offer_id)
            elif isinstance(command, BridgeCall):
                self.answered_legs.add(command.offer_id)
                self.connected[command.call_id] = command.offer_id
                if self.dialing.pop(command.call_id, None) is None:
                    self.bridging[command.call_id] = command.offer_id
            elif isinstance(command, DialCustomer):
                self.answered_legs.add(command.offer_id)
                self.dialing[command.call_id] = command.offer_id
            elif isinstance(command, PublishEvent):
                self.event(command)

    def check_offer(self, offer: OfferCall) -> None:
        # Property 1: an agent is never offered two calls at once.
        assert offer.agent_id not in self.leg_of_agent, f"{offer.agent_id} already has a leg"
        self.legs[offer.offer_id] = (offer.agent_id, offer.call_id)
        self.leg_of_agent[offer.agent_id] = offer.offer_id
        queue = self.where.get(offer.call_id)
        if queue is None or offer.callback_number is not None:
            return
        waiting = self.queues[queue]
        me = waiting[offer.call_id]
        # Property 2: within a priority calls leave in FIFO order (and higher priority first):
        # no caller with the same needs, ahead in line and waiting idle, is passed over.
        key = (-me.priority, me.enqueued_at, me.seq)
        for call_id, other in waiting.items():
            if call_id == offer.call_id or other.rings > 0 or other.own != me.own:
                continue
            ahead = (-other.priority, other.enqueued_at, other.seq) < key
            comparable = not self.requirements[queue] or other.enqueued_at <= me.enqueued_at
            assert not (ahead and comparable), f"{offer.call_id} offered before {call_id}"
        me.rings += 1
        self.offers_checked += 1

    def event(self, command: PublishEvent) -> None:
        data, call_id = command.data, command.call_id or ""
        if isinstance(data, CallAgentMissed):
            # the core took the leg's failure in (it may have timed it out first, at its time)
            self.end_leg(data.agent_leg_uuid)
            for legs in (self.connected, self.bridging):
                if legs.get(call_id) == data.agent_leg_uuid:
                    del legs[call_id]
        elif isinstance(data, CallOffered):
            self.seq += 1
            self.visits[call_id] += 1
            self.where[call_id] = data.queue
            own = self.own.get(call_id)
            self.queues.setdefault(data.queue, {})[call_id] = Waiting(
                data.priority, command.at, self.seq, own
            )
        elif isinstance(
            data, CallAnswered | CallAbandoned | CallOverflowed | CallCallbackRequested
        ):
            self.closings[call_id] += 1
            self.last_closing[call_id] = data.event_type
            self.bridging.pop(call_id, None)
            queue = self.where.pop(call_id, None)
            if queue is not None:
                self.queues[queue].pop(call_id, None)
        elif isinstance(data, CallEnded):
            # Property 3: every call ends exactly once.
            self.ended[call_id] += 1
            assert self.ended[call_id] == 1, f"{call_id} ended twice"
            self.outcomes[call_id] = data.outcome
            self.bridging.pop(call_id, None)
            offer_id = self.connected.pop(call_id, None)
            if offer_id is not None:
                self.end_leg(offer_id)


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[list[QueueConfig], list[AgentConfig], list[tuple[float, int, int, int]]]:
    strategies = list(Strategy)
    queues = []
    for index, name in enumerate(QUEUES):
        other = QUEUES[1 - index]
        queues.append(
            QueueConfig(
                name,
                strategy=draw(st.sampled_from(strategies)),
                requirements=LOOSENING if draw(st.booleans()) else (),
                ring_timeout_seconds=10,
                ring_progressively_delay_seconds=4,
                wrap_up_seconds=draw(st.sampled_from([None, 0.0, 5.0])),
                max_length=draw(st.sampled_from([None, 3])),
                overflow_after_seconds=draw(st.sampled_from([None, 45.0])),
                overflow_destination=Destination("queue", other),
                max_wait_seconds=draw(st.sampled_from([None, 120.0])),
                max_wait_no_agents_seconds=draw(st.sampled_from([None, 30.0])),
                callback_retry_seconds=15,
                callback_max_attempts=2,
                callback_dial_timeout_seconds=10,
            )
        )
    agents = []
    for number in range(draw(st.integers(1, 5))):
        tiers = draw(st.sets(st.sampled_from(QUEUES), min_size=1))
        billing = draw(st.integers(0, 5))
        agents.append(
            AgentConfig(
                f"a{number}",
                f"user/{number}",
                {"billing": billing} if billing else {},
                {q: Tier(level=draw(st.integers(1, 2)), position=number) for q in sorted(tiers)},
                wrap_up_seconds=draw(st.sampled_from([0.0, 3.0])),
                max_no_answer=draw(st.integers(0, 3)),
                no_answer_delay_seconds=draw(st.sampled_from([0.0, 5.0])),
                busy_delay_seconds=draw(st.sampled_from([0.0, 5.0])),
            )
        )
    actions = draw(
        st.lists(
            st.tuples(
                st.floats(0, 12, allow_nan=False),
                st.integers(0, 10),
                st.integers(0, 1000),
                st.integers(0, 1000),
            ),
            max_size=70,
        )
    )
    return queues, agents, actions


def open_world(queues: list[QueueConfig], agents: list[AgentConfig]) -> tuple[Acd, Observer]:
    """The day's start at time 0: queues configured, every agent configured and logged in."""
    acd = Acd(rng=random.Random(11))
    watch = Observer({q.name: bool(q.requirements) for q in queues})
    for queue in queues:
        watch.take(acd.configure_queue(queue, 0.0), 0.0)
    for config in agents:
        watch.take(acd.upsert_agent(config, 0.0), 0.0)
        watch.take(acd.login(config.agent_id, 0.0), 0.0)
    return acd, watch


def play(
    acd: Acd,
    watch: Observer,
    callers: list[str],
    actions: list[tuple[float, int, int, int]],
    agents: list[AgentConfig],
) -> Iterator[tuple[int, float]]:
    """Carry out the day's actions in turn, yielding (action number, time) after each."""
    now = 0.0
    for number, (dt, kind, a, b) in enumerate(actions):
        now += dt
        watch.take(act(acd, watch, callers, number, kind, a, b, now, agents), now)
        yield number, now


def run_world(
    queues: list[QueueConfig],
    agents: list[AgentConfig],
    actions: list[tuple[float, int, int, int]],
) -> Observer:
    acd, watch = open_world(queues, agents)
    callers: list[str] = []
    steps = list(play(acd, watch, callers, actions, agents))
    now = steps[-1][1] if steps else 0.0
    # drain: every caller on the line hangs up; dial attempts fail; time runs out
    for _ in range(3):
        now += 500
        watch.take(acd.advance(now), now)
        for call_id in acd.active_calls():
            view = acd.call_view(call_id)
            if view is not None and view.status == "dialing":
                watch.take(acd.customer_unreachable(call_id, "NO_ANSWER", now), now)
            elif view is not None and view.callback_number is None:
                watch.take(acd.caller_hung_up(call_id, now), now)
    still = set(acd.active_calls())
    for call_id in callers:
        assert watch.ended[call_id] == 1 or call_id in still, f"{call_id} never ended"
        assert watch.closings[call_id] == watch.visits[call_id], f"{call_id} visit not closed"
        closing = watch.last_closing.get(call_id)
        outcome = watch.outcomes.get(call_id)
        if closing == "call.answered":
            assert outcome is CallOutcome.ANSWERED
        if closing == "call.abandoned":
            assert outcome is CallOutcome.ABANDONED
        if closing == "call.callback_requested":
            assert outcome is CallOutcome.CALLBACK
    for call_id in still:
        assert watch.ended[call_id] == 0
        view = acd.call_view(call_id)
        assert view is not None
        assert view.callback_number is not None
    return watch


def act(
    acd: Acd,
    watch: Observer,
    callers: list[str],
    number: int,
    kind: int,
    a: int,
    b: int,
    now: float,
    agents: list[AgentConfig],
) -> list[Command]:
    ringing = [o for o in watch.legs if o not in watch.answered_legs]
    answered = sorted(watch.answered_legs)
    alive = [c for c in callers if watch.ended[c] == 0]
    if kind <= 2:
        call_id = f"c{number}"
        callers.append(call_id)
        own = OWN[b % len(OWN)]
        watch.own[call_id] = own
        return acd.call_arrived(ParkedCall(call_id, QUEUES[a % 2], priority=b % 3, skills=own), now)
    if kind == 3 and ringing:
        offer_id = ringing[a % len(ringing)]
        if watch.legs[offer_id][1] in watch.connected:
            return []
        return acd.agent_answered(offer_id, now)
    if kind == 4 and ringing:
        offer_id = ringing[a % len(ringing)]
        return acd.offer_failed(offer_id, CAUSES[b % len(CAUSES)], now)
    if kind == 5 and alive:
        call_id = alive[a % len(alive)]
        return acd.caller_hung_up(call_id, now)
    if kind == 6 and answered:
        return acd.agent_hung_up(answered[a % len(answered)], now)
    if kind == 7 and alive:
        try:
            return acd.request_callback(alive[a % len(alive)], "555", now)
        except RoutingError:
            return []
    if kind == 8 and watch.dialing:
        call_id = sorted(watch.dialing)[a % len(watch.dialing)]
        if b % 2:
            watch.dialing.pop(call_id)
            return acd.customer_answered(call_id, now)
        watch.dialing.pop(call_id)
        return acd.customer_unreachable(call_id, "NO_ANSWER", now)
    if kind == 9:
        return agent_action(acd, agents[a % len(agents)].agent_id, b % 6, now)
    if kind == 10 and watch.bridging:
        return acd.call_bridged(sorted(watch.bridging)[a % len(watch.bridging)], now)
    return acd.advance(now)


def agent_action(acd: Acd, agent_id: str, what: int, now: float) -> list[Command]:
    try:
        if what == 0:
            return acd.set_break(agent_id, "lunch", now)
        if what == 1:
            return acd.set_available(agent_id, now)
        if what == 2:
            return acd.logout(agent_id, now)
        if what == 3:
            return acd.login(agent_id, now)
        if what == 4:
            return acd.set_not_ready(agent_id, "training", now)
        return acd.end_wrap_up(agent_id, now)
    except RoutingError:
        return []


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(worlds())
def test_random_days_keep_the_three_promises(
    world: tuple[list[QueueConfig], list[AgentConfig], list[tuple[float, int, int, int]]],
) -> None:
    run_world(*world)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 20, allow_nan=False), st.integers(0, 3)), max_size=80),
    st.integers(1, 4),
)
def test_with_equal_callers_answers_follow_priority_then_arrival(
    steps: list[tuple[float, int]], agent_count: int
) -> None:
    """Agents always answer at once and talk a fixed time: then calls are answered strictly in
    (priority, arrival) order among those that had to wait."""
    acd = Acd()
    acd.configure_queue(QueueConfig("q"), 0.0)
    for number in range(agent_count):
        acd.upsert_agent(AgentConfig(f"a{number}", f"user/{number}", tiers={"q": Tier()}), 0.0)
        acd.login(f"a{number}", 0.0)
    now = 0.0
    answered: dict[str, float] = {}
    queued: dict[str, tuple[int, float, int]] = {}
    talks: list[tuple[float, str]] = []

    def carry(out: list[Command], at: float) -> None:
        for command in out:
            if isinstance(command, OfferCall):
                carry(acd.agent_answered(command.offer_id, at), at)
            elif isinstance(command, BridgeCall):
                answered[command.call_id] = at
                talks.append((at + 30.0, command.call_id))
                carry(acd.call_bridged(command.call_id, at), at)

    for number, (dt, priority) in enumerate(steps):
        now += dt
        for end, call_id in sorted(t for t in talks if t[0] <= now):
            talks.remove((end, call_id))
            carry(caller_left(acd, call_id, end), end)
        queued[f"c{number}"] = (-priority, now, number)
        carry(acd.call_arrived(ParkedCall(f"c{number}", "q", priority=priority), now), now)
    while talks:
        end, call_id = min(talks)
        talks.remove((end, call_id))
        carry(caller_left(acd, call_id, end), end)
    assert sorted(answered) == sorted(queued)
    rank = {call_id: index for index, call_id in enumerate(answered)}  # dicts keep answer order
    for call_id, key in queued.items():
        for other, other_key in queued.items():
            if other_key < key and rank[other] > rank[call_id]:
                # `other` was ahead in line yet answered later: only if it was not there yet
                assert other_key[1] >= answered[call_id], f"{call_id} jumped {other}"


def scanned_members(queue: QueueRuntime) -> list[MemberSnapshot]:
    """What a decision keeps of a queue's members, read from every member (the plain scan the
    member board replaces)."""
    return [
        (a.agent_id, a.state, a.reason, a.ready_at, a.wrap_until, a.offer, a.call, a.config.skills)
        for a in queue.members.values()
    ]


def same_members(kept: list[MemberSnapshot], scanned: list[MemberSnapshot]) -> bool:
    """Equal field by field, the very same offer, call and skills objects, in the same order."""
    return len(kept) == len(scanned) and all(
        k[:5] == s[:5] and k[5] is s[5] and k[6] is s[6] and k[7] is s[7]
        for k, s in zip(kept, scanned, strict=True)
    )


def reconfigured(config: AgentConfig, variant: int) -> AgentConfig:
    """The agent with other skills and other queues (so members leave and rejoin queues)."""
    tiers = [q for index, q in enumerate(QUEUES) if (variant >> index) & 1] or [QUEUES[0]]
    return replace(
        config,
        skills={"billing": variant % 6} if variant % 6 else {},
        tiers={q: Tier(level=1 + variant % 2, position=variant) for q in tiers},
    )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(worlds(), st.lists(st.tuples(st.integers(0, 70), st.integers(0, 4), st.integers(0, 15))))
def test_decisions_keep_the_members_a_scan_would_read(
    world: tuple[list[QueueConfig], list[AgentConfig], list[tuple[float, int, int, int]]],
    changes: list[tuple[int, int, int]],
) -> None:
    """Each decision copies its queue's member board instead of reading every member: on random
    days with agents reconfigured, logged out and removed, what it keeps is exactly what reading
    every member would give, at every decision and after every step (a wrap-up extended, too)."""
    queues, agents, actions = world
    original = Offering._decision

    def checked(self: Offering, queue: QueueRuntime, *args: object) -> DecisionRecord:
        record = original(self, queue, *args)  # type: ignore[arg-type]
        assert same_members(record.members, scanned_members(queue))
        assert {key[3]: key for key in record.keys} == queue.index.key_of
        return record

    with patch.object(Offering, "_decision", checked):
        acd, watch = open_world(queues, agents)
        for number, now in play(acd, watch, [], actions, agents):
            for _, index, variant in (c for c in changes if c[0] == number):
                config = agents[index % len(agents)]
                if variant == 15:  # a logged-out agent is removed and comes back
                    try:
                        watch.take(acd.remove_agent(config.agent_id, now), now)
                    except RoutingError:
                        continue
                    watch.take(acd.upsert_agent(config, now), now)
                elif variant >= 12:  # wrap-up extended (no state change)
                    try:
                        watch.take(acd.extend_wrap_up(config.agent_id, 10.0, now), now)
                    except RoutingError:
                        continue
                else:
                    watch.take(acd.upsert_agent(reconfigured(config, variant), now), now)
            for runtime in acd._floor.queues.values():
                assert same_members(runtime.board.rows, scanned_members(runtime))
