"""Inputs that do not come from events: schedules (adherence, attendance) and costs.

Adherence and attendance compare the schedule with the agent's state segments, interval by
interval, so they roll up exactly like every other fact. Costs are spread over the intervals of
their period in proportion to time. Without a schedule or a cost there are no such facts, and
the KPIs that need them say "no data".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cc_metrics.core.agents import Segment
from cc_metrics.core.facts import Facts, add_facts
from cc_metrics.core.intervals import INTERVAL, intervals_between
from cc_proto.events import AgentState


class Activity(StrEnum):
    """What a schedule puts an agent down for."""

    WORK = "work"
    BREAK = "break"
    LUNCH = "lunch"
    MEETING = "meeting"
    TRAINING = "training"


_ON_PHONES = frozenset(
    {AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP}
)
ADHERENT_STATES: Mapping[Activity, frozenset[AgentState]] = {
    Activity.WORK: _ON_PHONES,
    Activity.BREAK: frozenset({AgentState.BREAK}),
    Activity.LUNCH: frozenset({AgentState.BREAK}),
    Activity.MEETING: frozenset({AgentState.NOT_READY}),
    Activity.TRAINING: frozenset({AgentState.NOT_READY}),
}
"""The agent states that count as doing what the schedule says."""


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One scheduled stretch of one agent's day."""

    agent_id: str
    start: datetime
    end: datetime
    activity: Activity

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a schedule entry must end after it starts")


@dataclass(frozen=True, slots=True)
class CostEntry:
    """The cost of running a queue, a team or the whole tenant over a period."""

    scope: str
    key: str
    start: datetime
    end: datetime
    amount: float

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a cost period must end after it starts")
        if self.amount < 0:
            raise ValueError("a cost cannot be negative")


def _overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> float:
    return max(timedelta(0), min(a_end, b_end) - max(a_start, b_start)).total_seconds()


def workforce_facts(
    schedule: Iterable[ScheduleEntry], segments: Iterable[Segment]
) -> dict[tuple[str, datetime], Facts]:
    """Return adherence and attendance facts per (agent, interval) the schedule covers."""
    by_agent: dict[str, list[Segment]] = {}
    for segment in segments:
        by_agent.setdefault(segment.agent_id, []).append(segment)
    facts: dict[tuple[str, datetime], Facts] = {}
    working: set[tuple[str, datetime]] = set()
    for entry in schedule:
        agent_segments = by_agent.get(entry.agent_id, [])
        for begin in intervals_between(entry.start, entry.end):
            end = begin + INTERVAL
            scheduled = _overlap(entry.start, entry.end, begin, end)
            adherent = sum(
                _overlap(s.start, s.end, max(entry.start, begin), min(entry.end, end))
                for s in agent_segments
                if s.state in ADHERENT_STATES[entry.activity]
            )
            add_facts(
                facts.setdefault((entry.agent_id, begin), {}),
                {"scheduled_seconds": scheduled, "adherent_seconds": adherent},
            )
            if entry.activity is Activity.WORK:
                working.add((entry.agent_id, begin))
    for agent_id, begin in working:
        present = any(
            s.state is not AgentState.LOGGED_OUT
            and _overlap(s.start, s.end, begin, begin + INTERVAL)
            for s in by_agent.get(agent_id, [])
        )
        add_facts(
            facts[(agent_id, begin)],
            {"scheduled_agent_intervals": 1.0, "attended_agent_intervals": float(present)},
        )
    return facts


def cost_facts(costs: Iterable[CostEntry]) -> dict[tuple[str, str, datetime], float]:
    """Spread each cost over the 15-minute intervals of its period, pro rata to time."""
    spread: dict[tuple[str, str, datetime], float] = {}
    for cost in costs:
        length = (cost.end - cost.start).total_seconds()
        for begin in intervals_between(cost.start, cost.end):
            share = cost.amount * _overlap(cost.start, cost.end, begin, begin + INTERVAL) / length
            key = (cost.scope, cost.key, begin)
            spread[key] = spread.get(key, 0.0) + share
    return spread
