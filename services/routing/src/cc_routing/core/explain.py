"""Why a call went to an agent: each decision with its candidates, score terms and refusals.

Decisions are kept for the most recent calls only (bounded), so memory stays flat however long
the service runs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from cc_proto.events import AgentState
from cc_routing.core.agents import MemberSnapshot
from cc_routing.core.config import Strategy
from cc_routing.core.expressions import Requirement
from cc_routing.core.strategies import OrderKey, Term, terms_from_key


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent who could take the call, with the terms the strategy ranked them by."""

    agent_id: str
    terms: tuple[Term, ...]
    chosen: bool


@dataclass(frozen=True, slots=True)
class Skipped:
    """A member of the queue who was not considered, and why."""

    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueueChoice:
    """How a queue ranked when a freed agent in several queues picked one."""

    queue: str
    service_level: float
    target: float
    margin: float
    head_call_id: str
    head_enqueued_at: float
    chosen: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision for one call."""

    at: float
    call_id: str
    queue: str
    trigger: str
    strategy: str
    requirement: str | None
    relaxation_step: int
    chosen: tuple[str, ...]
    candidates: tuple[Candidate, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    queue_choice: tuple[QueueChoice, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view for the API."""
        return {
            "at": self.at,
            "call_id": self.call_id,
            "queue": self.queue,
            "trigger": self.trigger,
            "strategy": self.strategy,
            "requirement": self.requirement,
            "relaxation_step": self.relaxation_step,
            "chosen": list(self.chosen),
            "candidates": [
                {"agent_id": c.agent_id, "terms": dict(c.terms), "chosen": c.chosen}
                for c in self.candidates
            ],
            "skipped": [{"agent_id": s.agent_id, "reason": s.reason} for s in self.skipped],
            "queue_choice": [
                {
                    "queue": q.queue,
                    "service_level": q.service_level,
                    "target": q.target,
                    "margin": q.margin,
                    "head_call_id": q.head_call_id,
                    "head_enqueued_at": q.head_enqueued_at,
                    "chosen": q.chosen,
                }
                for q in self.queue_choice
            ],
        }


class DecisionRecord:
    """A decision as captured on the hot path; :meth:`render` turns it into a :class:`Decision`.

    ``keys`` is a copy of the queue's sorted order keys and ``members`` of its member board
    (each member's :attr:`Agent.snapshot`, shared, not rebuilt): capturing costs two list copies
    however many agents the queue has; the per-agent lookups wait for :meth:`render`.
    """

    __slots__ = (
        "at",
        "call_id",
        "chosen",
        "keys",
        "members",
        "queue",
        "queue_choice",
        "requirement",
        "step",
        "strategy",
        "trigger",
    )

    def __init__(
        self,
        *,
        at: float,
        call_id: str,
        queue: str,
        trigger: str,
        strategy: Strategy,
        requirement: Requirement | None,
        step: int,
        chosen: tuple[str, ...],
        keys: list[OrderKey],
        members: list[MemberSnapshot],
        queue_choice: tuple[QueueChoice, ...],
    ) -> None:
        self.at = at
        self.call_id = call_id
        self.queue = queue
        self.trigger = trigger
        self.strategy = strategy
        self.requirement = requirement
        self.step = step
        self.chosen = chosen
        self.keys = keys
        self.members = members
        self.queue_choice = queue_choice

    def render(self) -> Decision:
        """Describe every member: chosen, ranked lower (with score terms), or skipped and why."""
        ranked: list[tuple[OrderKey, Candidate]] = []
        skipped: list[Skipped] = []
        chosen = set(self.chosen)
        key_of = {key[3]: key for key in self.keys}  # an order key ends with the agent's id
        for member in self.members:
            agent_id, skills = member[0], member[7]
            key = key_of.get(agent_id)
            if key is None:
                skipped.append(Skipped(agent_id, _unavailable(member)))
                continue
            if agent_id not in chosen and self.requirement is not None:
                why = self.requirement.why_not(skills)
                if why is not None:
                    skipped.append(Skipped(agent_id, f"requirement not met: {why}"))
                    continue
            terms = terms_from_key(self.strategy, key, self.at)
            ranked.append((key, Candidate(agent_id, terms, agent_id in chosen)))
        ranked.sort(key=lambda pair: pair[0])
        return Decision(
            at=self.at,
            call_id=self.call_id,
            queue=self.queue,
            trigger=self.trigger,
            strategy=self.strategy.value,
            requirement=self.requirement.text if self.requirement is not None else None,
            relaxation_step=self.step,
            chosen=self.chosen,
            candidates=tuple(candidate for _, candidate in ranked),
            skipped=tuple(skipped),
            queue_choice=self.queue_choice,
        )


def _unavailable(member: MemberSnapshot) -> str:
    """Say in words why a member could not take a call at the time of the decision."""
    _, state, reason, ready_at, wrap_until, offer, call, _ = member
    if state is AgentState.AVAILABLE:
        return f"resting after a missed offer until {ready_at:.3f}"
    if state is AgentState.RESERVED and offer is not None:
        return f"reserved: ringing for call {offer.call.call_id}"
    if state is AgentState.ON_CALL and call is not None:
        return f"on call {call.call_id}"
    if state is AgentState.WRAP_UP:
        return f"wrap-up until {wrap_until:.3f}"
    if reason:
        return f"{state.value}: {reason}"
    return state.value


class DecisionLog:
    """Decisions of the most recent ``capacity`` calls, oldest forgotten first."""

    __slots__ = ("_by_call", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be zero or more")
        self.capacity = capacity
        self._by_call: OrderedDict[str, list[DecisionRecord]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_call)

    def add(self, decision: DecisionRecord) -> None:
        """Keep a decision under its call, evicting the least recently decided call if full."""
        if self.capacity == 0:
            return
        by_call = self._by_call
        kept = by_call.get(decision.call_id)
        if kept is None:
            by_call[decision.call_id] = [decision]
            if len(by_call) > self.capacity:
                by_call.popitem(last=False)
        else:
            kept.append(decision)
            by_call.move_to_end(decision.call_id)

    def for_call(self, call_id: str) -> tuple[Decision, ...]:
        """Return the decisions kept for a call, oldest first (empty if forgotten or unknown)."""
        return tuple(record.render() for record in self._by_call.get(call_id, ()))
