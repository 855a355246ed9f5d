"""The additive facts every KPI is a ratio of, kept per 15-minute interval.

A fact is a count or a sum of seconds. Interval rows store facts, never ratios, so a roll-up to
any bucket is the sum of its intervals' facts and the KPI of the bucket is exact. Queue rows and
agent rows each have their own set; facts with the same name mean the same thing in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cc_metrics.core.thresholds import WAIT_BOUNDS
from cc_proto.events import AgentState

Facts = dict[str, float]
"""Fact name to value; an absent event fact is zero, an absent input fact is missing data."""


def answered_within(seconds: int) -> str:
    """Return the fact counting answered calls that waited at most ``seconds``."""
    return f"answered_within_{seconds}s"


def abandoned_within(seconds: int) -> str:
    """Return the fact counting abandoned calls that waited at most ``seconds``."""
    return f"abandoned_within_{seconds}s"


def state_seconds(state: AgentState) -> str:
    """Return the fact summing an agent's seconds in ``state``."""
    return f"{state.value}_seconds"


@dataclass(frozen=True, slots=True)
class FactSpec:
    """One fact: its name (also the column name) and what it counts."""

    name: str
    description: str

    @property
    def is_seconds(self) -> bool:
        """Return True for sums of seconds (stored as floats), False for counts."""
        return self.name.endswith("_seconds") or self.name == "qa_score_sum"


def _specs(pairs: Iterable[tuple[str, str]]) -> tuple[FactSpec, ...]:
    return tuple(FactSpec(name, text) for name, text in pairs)


_HANDLING = (
    ("handled", "calls an agent answered that have ended, counted when they end"),
    ("talk_seconds", "talk time of handled calls (from call.ended)"),
    ("hold_seconds", "hold time of handled calls (from call.ended)"),
    ("acw_seconds", "after-call work: wrap-up state time, counted when wrap-up ends"),
    ("transferred", "calls an agent handed on (call.transferred)"),
    ("fcr_resolved", "handled calls resolved on first contact (survey, else disposition)"),
    ("fcr_verdicts", "handled calls with a first-contact answer (survey, else disposition)"),
    ("csat_answers", "survey answers to the CSAT question"),
    ("csat_satisfied", "CSAT answers 1 (very satisfied) or 2 (satisfied)"),
    ("nps_answers", "survey answers to the NPS question"),
    ("nps_promoters", "NPS answers 9 or 10"),
    ("nps_detractors", "NPS answers 0 to 6"),
    ("qa_evaluations", "QA evaluations of recorded calls"),
    ("qa_score_sum", "sum of evaluation scores as fractions of the scorecard's maximum"),
)

QUEUE_FACTS: tuple[FactSpec, ...] = _specs(
    [
        ("offered", "calls that entered the queue (call.offered)"),
        ("queued", "offered calls that had to wait (call.queued)"),
        ("answered", "calls answered by an agent, in the interval they were offered"),
        ("answered_wait_seconds", "queue wait of answered calls"),
        ("ring_seconds", "agent ring time of answered calls"),
        *((answered_within(b), f"answered calls that waited at most {b} s") for b in WAIT_BOUNDS),
        ("abandoned", "callers who hung up while queued, in the interval they were offered"),
        ("abandoned_wait_seconds", "queue wait of abandoned calls"),
        *((abandoned_within(b), f"abandoned calls that waited at most {b} s") for b in WAIT_BOUNDS),
        ("overflowed", "calls that left the queue for another one"),
        ("callbacks", "callers who left the queue asking for a callback"),
        ("queue_exits", "calls that left the queue: answered, abandoned, overflowed, callback"),
        ("queue_exit_wait_seconds", "queue wait of every call that left the queue"),
        ("blocked", "calls refused before they could wait (call.blocked)"),
        ("ivr_only", "calls that finished in the IVR without entering a queue"),
        *_HANDLING,
    ]
)

AGENT_STATE_FACTS: tuple[FactSpec, ...] = tuple(
    FactSpec(state_seconds(s), f"seconds logged in and {s.value}")
    for s in AgentState
    if s is not AgentState.LOGGED_OUT
)

AGENT_FACTS: tuple[FactSpec, ...] = (
    *_specs(
        [
            ("answered", "calls the agent answered"),
            ("ring_seconds", "ring time before the agent answered"),
            ("missed", "offers the agent did not take (call.agent_missed)"),
        ]
    ),
    *_specs(_HANDLING),
    *AGENT_STATE_FACTS,
)

CAMPAIGN_FACTS: tuple[FactSpec, ...] = _specs(
    [
        ("attempts", "dials placed to leads (dialer.attempted)"),
        ("live_answers", "dials a live person answered: connected to an agent or abandoned"),
        (
            "connected",
            "live answers bridged to an agent (dialer.connected, not by a machine, less those a "
            "later dialer.machine_detected showed were machines)",
        ),
        ("connect_wait_seconds", "time from the customer's answer until the agent's bridge"),
        ("abandoned", "live answers no agent took within the 2-second rule (dialer.dropped)"),
        ("abandoned_wait_seconds", "time abandoned customers waited after answering"),
        (
            "machine_answers",
            "dials an answering machine picked up (dialer.machine_detected; apart from live "
            "answers)",
        ),
        ("dispositions", "outbound calls the agent dispositioned (dialer.dispositioned)"),
        ("right_party_contacts", "dispositions the campaign counts as a right-party contact"),
    ]
)
"""Outbound facts per campaign, each counted in the interval of its event's time."""

INPUT_FACTS: tuple[FactSpec, ...] = _specs(
    [
        ("scheduled_seconds", "seconds the schedule puts the agent in an activity"),
        ("adherent_seconds", "scheduled seconds the agent spent in the scheduled activity"),
        ("scheduled_agent_intervals", "agent-intervals the schedule has the agent working"),
        ("attended_agent_intervals", "scheduled agent-intervals in which the agent logged in"),
        ("cost", "cost of the period (an input), allocated pro rata to intervals"),
    ]
)
"""Facts that come from schedules and costs given through the API; absent means no data."""

QUEUE_FACT_NAMES = tuple(spec.name for spec in QUEUE_FACTS)
AGENT_FACT_NAMES = tuple(spec.name for spec in AGENT_FACTS)
INPUT_FACT_NAMES = tuple(spec.name for spec in INPUT_FACTS)
CAMPAIGN_FACT_NAMES = tuple(spec.name for spec in CAMPAIGN_FACTS)


def add_facts(target: Facts, increment: Mapping[str, float]) -> None:
    """Add ``increment`` into ``target`` fact by fact."""
    for name, value in increment.items():
        target[name] = target.get(name, 0.0) + value


def wait_facts(outcome: str, wait_seconds: float) -> Facts:
    """Return the facts of one call leaving a queue after ``wait_seconds`` (answered/abandoned)."""
    within = answered_within if outcome == "answered" else abandoned_within
    facts: Facts = {outcome: 1.0, f"{outcome}_wait_seconds": wait_seconds}
    for bound in WAIT_BOUNDS:
        if wait_seconds <= bound:
            facts[within(bound)] = 1.0
    facts.update(queue_exits=1.0, queue_exit_wait_seconds=wait_seconds)
    return facts
