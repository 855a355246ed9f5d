"""The floor: the core's one shared state (queues, agents, calls, rings, timers, the clock) and
the base of the subjects that act on it.

Every subject (agent states, roster, offering, answers, legs, line, conversations, callbacks,
outbound, restore, views) holds this one :class:`Floor` and its peers (:class:`Parts`); they run
at ``floor.now`` (set by the public call or by the timer being fired) and append the resulting
commands to ``out``. :class:`cc_routing.core.acd.Acd` builds them and is their one entry point.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, NamedTuple

from cc_proto.envelope import EventData
from cc_routing.core.agents import Agent, ClosingLeg
from cc_routing.core.calls import Call, Offer
from cc_routing.core.commands import Command, PublishEvent
from cc_routing.core.config import Destination
from cc_routing.core.explain import DecisionLog
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.timers import Timer, Timers

if TYPE_CHECKING:
    from cc_routing.core.answers import Answers
    from cc_routing.core.callbacks import Callbacks
    from cc_routing.core.conversations import Conversations
    from cc_routing.core.legs import Legs
    from cc_routing.core.line import Line
    from cc_routing.core.offering import Offering
    from cc_routing.core.outbound import Outbound
    from cc_routing.core.restore import Restore
    from cc_routing.core.roster import Roster
    from cc_routing.core.states import AgentStates
    from cc_routing.core.views import Views


class RoutingError(ValueError):
    """A request that does not fit the current state (unknown agent, wrong state...)."""


def hangup_cause(cause: str) -> str:
    """Keep FreeSWITCH's hangup cause; an empty one becomes UNSPECIFIED (its name for none)."""
    cause = (cause or "").strip()
    return cause[:200] if cause else "UNSPECIFIED"


class Floor:
    """Everything routing knows right now, and its clock; the subjects change it."""

    def __init__(
        self,
        *,
        rng: random.Random,
        new_id: Callable[[], str] | None,
        fallback: Destination,
        known_skills: Collection[str] | None,
        break_reasons: Collection[str] | None,
        not_ready_reasons: Collection[str] | None,
        explain: bool,
        explain_capacity: int,
    ) -> None:
        self.rng = rng
        prefix = f"{rng.getrandbits(80):020x}"
        self._id_prefix = f"{prefix[:8]}-{prefix[8:12]}-4{prefix[13:16]}-a{prefix[17:20]}-"
        self._ids = 0
        self.new_id: Callable[[], str] = new_id or self.random_id
        self.fallback = fallback
        self.known_skills = frozenset(known_skills) if known_skills is not None else None
        self.break_reasons = frozenset(break_reasons) if break_reasons is not None else None
        self.not_ready_reasons = (
            frozenset(not_ready_reasons) if not_ready_reasons is not None else None
        )
        self.explain = explain
        self.log = DecisionLog(explain_capacity)
        self.now = -math.inf
        self.queues: dict[str, QueueRuntime] = {}
        self.broken: dict[str, tuple[Destination | None, str]] = {}
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}
        self.offers: dict[str, Offer] = {}
        self.callback_of: dict[str, str] = {}
        self.closing: dict[str, ClosingLeg] = {}
        self.timers = Timers()
        self.seq = 0
        self.holding = False  # an instance stopping: no new offers

    def random_id(self) -> str:
        """Return a uuid4-shaped id: a random prefix drawn once from the injected RNG, then a
        counter (unique within this process, reproducible in simulations, cheap to make)."""
        self._ids += 1
        return f"{self._id_prefix}{self._ids:012x}"

    # --- clock ---------------------------------------------------------------------------------

    def begin(self, now: float) -> list[Command]:
        """Fire every timer due by ``now`` (each at its own due time), then move the clock."""
        if not math.isfinite(now):
            raise ValueError(f"now must be finite epoch seconds, not {now!r}")
        out: list[Command] = []
        timers = self.timers
        while True:
            timer = timers.pop_due(now)
            if timer is None:
                break
            if timer.due > self.now:
                self.now = timer.due
            timer.fire(out)
        if now > self.now:
            self.now = now
        return out

    def emit(
        self,
        out: list[Command],
        data: EventData,
        call_id: str | None = None,
        agent_id: str | None = None,
    ) -> None:
        out.append(PublishEvent(data, self.now, call_id, agent_id))

    def next_deadline(self) -> float | None:
        """Return when the core next needs :meth:`advance` (None: only on new input)."""
        self.timers.drop_stale(self.stale)
        return self.timers.next_due()

    def stale(self, timer: Timer) -> bool:
        """The common stale timers, dropped early: a ring timeout whose offer already ended
        (offers are the subject of ring timeouts only), a leg check whose leg was heard gone."""
        subject = timer.subject
        if isinstance(subject, Offer):
            return not subject.active
        if isinstance(subject, ClosingLeg):
            return self.closing.get(subject.leg) is not subject
        return False


class Parts(NamedTuple):
    """The subjects of one core, each owning one part of the work on the shared floor."""

    states: AgentStates
    roster: Roster
    offering: Offering
    answers: Answers
    legs: Legs
    line: Line
    conversations: Conversations
    callbacks: Callbacks
    outbound: Outbound
    restore: Restore
    views: Views


class Subject:
    """One subject of the core: the shared floor, and its peers once :meth:`link` ran.

    The subjects call each other freely (an agent freed by a missed ring is served the next call,
    a call leaving frees its agents...), so each sees all the others; they share no state but the
    floor.
    """

    states: AgentStates
    roster: Roster
    offering: Offering
    answers: Answers
    legs: Legs
    line: Line
    conversations: Conversations
    callbacks: Callbacks
    outbound: Outbound
    restore: Restore
    views: Views

    def __init__(self, floor: Floor) -> None:
        self.floor = floor

    def link(self, parts: Parts) -> None:
        """Meet the other subjects (called once, after all are built)."""
        (
            self.states,
            self.roster,
            self.offering,
            self.answers,
            self.legs,
            self.line,
            self.conversations,
            self.callbacks,
            self.outbound,
            self.restore,
            self.views,
        ) = parts
