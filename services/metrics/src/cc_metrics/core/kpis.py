"""The KPIs of KPIs.md (25 inbound, 6 outbound), each one written definition as a numerator
over a denominator.

Numerators and denominators are sums of facts (with signs), so a KPI over any range is its
numerator's facts summed over the range divided by its denominator's. A KPI whose input fact is
missing (no schedule, no cost given) or whose denominator is zero is "no data" with the reason,
never 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from cc_metrics.core.facts import (
    AGENT_STATE_FACTS,
    abandoned_within,
    answered_within,
    state_seconds,
)
from cc_metrics.core.thresholds import Thresholds
from cc_proto.events import AgentState

Linear = Mapping[str, float]
"""A signed sum of facts: ``{"offered": 1, "abandoned_within_5s": -1}``."""


class Scope(StrEnum):
    """What a KPI can be reported per."""

    QUEUE = "queue"
    AGENT = "agent"
    TEAM = "team"
    TENANT = "tenant"
    CAMPAIGN = "campaign"
    """An outbound dialer campaign (its own facts; see OUTBOUND_KPIS)."""


class Unit(StrEnum):
    """How a KPI value reads."""

    RATIO = "ratio"
    SECONDS = "seconds"
    COUNT = "count"
    PER_HOUR = "per_hour"
    POINTS = "points"
    MONEY = "money"


ALL_SCOPES = frozenset({Scope.QUEUE, Scope.AGENT, Scope.TEAM, Scope.TENANT})
"""The scopes of the inbound KPIs; campaigns have the outbound ones."""
CAMPAIGN_SCOPES = frozenset({Scope.CAMPAIGN})
CALL_SCOPES = frozenset({Scope.QUEUE, Scope.TENANT})
PEOPLE_SCOPES = frozenset({Scope.AGENT, Scope.TEAM, Scope.TENANT})

Terms = Callable[[Thresholds], Linear]


@dataclass(frozen=True, slots=True)
class KpiValue:
    """A KPI's value with what it was computed from; ``value`` is None when there is no data."""

    value: float | None
    numerator: float | None
    denominator: float | None
    no_data: str | None = None


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI: its single definition and how to compute it from facts."""

    number: int
    key: str
    title: str
    definition: str
    unit: Unit
    numerator: Terms
    denominator: Terms | None
    empty: str
    scopes: frozenset[Scope]
    scale: float = 1.0

    def facts(self, thresholds: Thresholds) -> set[str]:
        """Return every fact this KPI reads."""
        return set(_compiled(self, thresholds)[2])

    def compute(self, facts: Mapping[str, float], thresholds: Thresholds) -> KpiValue:
        """Return the KPI from summed facts, or no data naming what is missing."""
        numerator, denominator, names = _compiled(self, thresholds)
        missing = [name for name in names if name not in facts]
        if missing:
            return KpiValue(None, None, None, f"missing input: {', '.join(missing)}")
        num = sum(weight * facts[name] for name, weight in numerator)
        if denominator is None:
            return KpiValue(num * self.scale, num, None)
        den = sum(weight * facts[name] for name, weight in denominator)
        if den <= 0:
            return KpiValue(None, num, den, self.empty)
        return KpiValue(self.scale * num / den, num, den)


Pairs = tuple[tuple[str, float], ...]


@functools.lru_cache(maxsize=1024)
def _compiled(kpi: Kpi, thresholds: Thresholds) -> tuple[Pairs, Pairs | None, tuple[str, ...]]:
    """Return a KPI's terms for these thresholds, worked out once (reports compute thousands)."""
    numerator = tuple(kpi.numerator(thresholds).items())
    denominator = None if kpi.denominator is None else tuple(kpi.denominator(thresholds).items())
    names = sorted({name for name, _ in (*numerator, *(denominator or ()))})
    return numerator, denominator, tuple(names)


def _fixed(**terms: float) -> Terms:
    return lambda _t: terms


def _within_t(t: Thresholds) -> Linear:
    return {answered_within(t.service_level_seconds): 1}


def _offered_less_short(t: Thresholds) -> Linear:
    return {"offered": 1, abandoned_within(t.short_abandon_seconds): -1}


def _abandoned_less_short(t: Thresholds) -> Linear:
    return {"abandoned": 1, abandoned_within(t.short_abandon_seconds): -1}


def _answered_or_abandoned_within_t(t: Thresholds) -> Linear:
    return {
        answered_within(t.service_level_seconds): 1,
        abandoned_within(t.service_level_seconds): 1,
    }


_BUSY = {state_seconds(AgentState.ON_CALL): 1.0, state_seconds(AgentState.WRAP_UP): 1.0}
_IDLE = {state_seconds(AgentState.AVAILABLE): 1.0, state_seconds(AgentState.RESERVED): 1.0}
_LOGGED_IN = {spec.name: 1.0 for spec in AGENT_STATE_FACTS}
_HANDLE = {"talk_seconds": 1.0, "hold_seconds": 1.0, "acw_seconds": 1.0}

KPIS: tuple[Kpi, ...] = (
    Kpi(1, "service_level", "Service level",
        "answered within T / (offered − short abandons)", Unit.RATIO,
        _within_t, _offered_less_short, "no calls offered", CALL_SCOPES),
    Kpi(2, "abandon_rate", "Abandon rate",
        "(abandoned − short abandons) / (offered − short abandons)", Unit.RATIO,
        _abandoned_less_short, _offered_less_short, "no calls offered", CALL_SCOPES),
    Kpi(3, "average_abandon_time", "Average abandon time",
        "queue wait of abandoned calls / abandoned", Unit.SECONDS,
        _fixed(abandoned_wait_seconds=1), _fixed(abandoned=1), "no calls abandoned", CALL_SCOPES),
    Kpi(4, "asa", "Average speed of answer",
        "queue wait of answered calls / answered", Unit.SECONDS,
        _fixed(answered_wait_seconds=1), _fixed(answered=1), "no calls answered", CALL_SCOPES),
    Kpi(5, "average_queue_time", "Average queue time",
        "queue wait of calls that left the queue (answered, abandoned, overflowed, callback)"
        " / those calls", Unit.SECONDS,
        _fixed(queue_exit_wait_seconds=1), _fixed(queue_exits=1), "no calls left the queue",
        CALL_SCOPES),
    Kpi(6, "average_talk_time", "Average talk time",
        "talk time of handled calls / handled", Unit.SECONDS,
        _fixed(talk_seconds=1), _fixed(handled=1), "no calls handled", ALL_SCOPES),
    Kpi(7, "average_hold_time", "Average hold time",
        "hold time of handled calls / handled", Unit.SECONDS,
        _fixed(hold_seconds=1), _fixed(handled=1), "no calls handled", ALL_SCOPES),
    Kpi(8, "average_acw", "Average after-call work",
        "wrap-up time / handled", Unit.SECONDS,
        _fixed(acw_seconds=1), _fixed(handled=1), "no calls handled", ALL_SCOPES),
    Kpi(9, "aht", "Average handle time",
        "(talk + hold + ACW) / handled", Unit.SECONDS,
        lambda _t: _HANDLE, _fixed(handled=1), "no calls handled", ALL_SCOPES),
    Kpi(10, "occupancy", "Occupancy",
        "(on call + wrap-up) / (on call + wrap-up + available + reserved) agent seconds;"
        " breaks and not-ready excluded", Unit.RATIO,
        lambda _t: _BUSY, lambda _t: {**_BUSY, **_IDLE}, "no agent time available for calls",
        PEOPLE_SCOPES),
    Kpi(11, "utilization", "Utilization",
        "(on call + wrap-up) / logged-in agent seconds, breaks included", Unit.RATIO,
        lambda _t: _BUSY, lambda _t: _LOGGED_IN, "no agent logged in", PEOPLE_SCOPES),
    Kpi(12, "adherence", "Schedule adherence",
        "seconds in the scheduled activity / scheduled seconds", Unit.RATIO,
        _fixed(adherent_seconds=1), _fixed(scheduled_seconds=1), "nothing scheduled",
        PEOPLE_SCOPES),
    Kpi(13, "calls_per_agent_hour", "Calls per agent hour",
        "handled / logged-in agent hours", Unit.PER_HOUR,
        _fixed(handled=1), lambda _t: _LOGGED_IN, "no agent logged in", PEOPLE_SCOPES,
        scale=3600.0),
    Kpi(14, "answer_rate", "Answer rate",
        "answered / offered", Unit.RATIO,
        _fixed(answered=1), _fixed(offered=1), "no calls offered", CALL_SCOPES),
    Kpi(15, "transfer_rate", "Transfer rate",
        "transferred / handled", Unit.RATIO,
        _fixed(transferred=1), _fixed(handled=1), "no calls handled", ALL_SCOPES),
    Kpi(16, "fcr", "First-contact resolution",
        "handled calls resolved on first contact (the caller's survey answer, else the agent's"
        " disposition) / handled calls with such an answer", Unit.RATIO,
        _fixed(fcr_resolved=1), _fixed(fcr_verdicts=1),
        "no survey answer or disposition on first contact", ALL_SCOPES),
    Kpi(17, "queue_placement_rate", "Queue placement rate",
        "offered calls that had to wait / offered", Unit.RATIO,
        _fixed(queued=1), _fixed(offered=1), "no calls offered", CALL_SCOPES),
    Kpi(18, "blocked_rate", "Blocked rate",
        "blocked / total calls (offered + blocked + ended in the IVR)", Unit.RATIO,
        _fixed(blocked=1), _fixed(offered=1, blocked=1, ivr_only=1), "no calls", CALL_SCOPES),
    Kpi(19, "total_calls", "Total calls",
        "offered + blocked + calls that finished in the IVR", Unit.COUNT,
        _fixed(offered=1, blocked=1, ivr_only=1), None, "", CALL_SCOPES),
    Kpi(20, "average_ring_time", "Average ring time",
        "ring time of answered calls (offer to the agent until answer) / answered", Unit.SECONDS,
        _fixed(ring_seconds=1), _fixed(answered=1), "no calls answered", ALL_SCOPES),
    Kpi(21, "csat", "Customer satisfaction",
        "CSAT answers 1 or 2 / CSAT answers", Unit.RATIO,
        _fixed(csat_satisfied=1), _fixed(csat_answers=1), "no CSAT answers", ALL_SCOPES),
    Kpi(22, "nps", "Net promoter score",
        "100 × (promoters − detractors) / NPS answers", Unit.POINTS,
        _fixed(nps_promoters=1, nps_detractors=-1), _fixed(nps_answers=1), "no NPS answers",
        ALL_SCOPES, scale=100.0),
    Kpi(23, "qa_score", "QA score",
        "sum of evaluation scores as fractions of their maximum / evaluations", Unit.RATIO,
        _fixed(qa_score_sum=1), _fixed(qa_evaluations=1), "no evaluations", ALL_SCOPES),
    Kpi(24, "cost_per_call", "Cost per call",
        "period cost (an input) / handled", Unit.MONEY,
        _fixed(cost=1), _fixed(handled=1), "no calls handled", ALL_SCOPES),
    Kpi(25, "attendance", "Attendance",
        "scheduled agent-intervals with the agent logged in / scheduled agent-intervals",
        Unit.RATIO,
        _fixed(attended_agent_intervals=1), _fixed(scheduled_agent_intervals=1),
        "nobody scheduled", PEOPLE_SCOPES),
)  # fmt: skip

KPI_BY_KEY: dict[str, Kpi] = {kpi.key: kpi for kpi in KPIS}

SL_VARIANTS: tuple[Kpi, ...] = (
    Kpi(1, "service_level_of_answered", "Service level (of answered)",
        "answered within T / answered", Unit.RATIO,
        _within_t, _fixed(answered=1), "no calls answered", CALL_SCOPES),
    Kpi(1, "service_level_of_answered_and_abandoned",
        "Service level (answered and abandoned within T)",
        "(answered within T + abandoned within T) / (answered + abandoned)", Unit.RATIO,
        _answered_or_abandoned_within_t, _fixed(answered=1, abandoned=1),
        "no calls answered or abandoned", CALL_SCOPES),
)  # fmt: skip
"""The service-level variants KPIs.md asks to report beside the main definition."""

OUTBOUND_KPIS: tuple[Kpi, ...] = (
    Kpi(26, "dial_attempts", "Dial attempts",
        "dials placed to leads", Unit.COUNT,
        _fixed(attempts=1), None, "", CAMPAIGN_SCOPES),
    Kpi(27, "connect_rate", "Connect rate",
        "live answers (connected + abandoned; machines apart) / dial attempts", Unit.RATIO,
        _fixed(live_answers=1), _fixed(attempts=1), "no dials", CAMPAIGN_SCOPES),
    Kpi(28, "right_party_contact_rate", "Right-party contact rate",
        "right-party contacts (by the agent's disposition) / live answers", Unit.RATIO,
        _fixed(right_party_contacts=1), _fixed(live_answers=1), "no live answers",
        CAMPAIGN_SCOPES),
    Kpi(29, "outbound_abandon_rate", "Outbound abandon rate",
        "abandoned (no agent within 2 s of the customer's answer) / live answers", Unit.RATIO,
        _fixed(abandoned=1), _fixed(live_answers=1), "no live answers", CAMPAIGN_SCOPES),
    Kpi(30, "machine_answer_rate", "Machine answer rate",
        "answering machines / dial attempts", Unit.RATIO,
        _fixed(machine_answers=1), _fixed(attempts=1), "no dials", CAMPAIGN_SCOPES),
    Kpi(31, "average_connect_wait", "Average connect wait",
        "time from the customer's answer to the agent's bridge / connected", Unit.SECONDS,
        _fixed(connect_wait_seconds=1), _fixed(connected=1), "no calls connected",
        CAMPAIGN_SCOPES),
)  # fmt: skip
"""The outbound KPIs per campaign (docs/KPIs.md, "Outbound"), from the dialer's events."""

ALL_FIGURES: tuple[Kpi, ...] = (*KPIS, *SL_VARIANTS, *OUTBOUND_KPIS)


def compute_all(
    facts: Mapping[str, float],
    thresholds: Thresholds,
    scope: Scope,
    only: Collection[str] | None = None,
) -> dict[str, KpiValue]:
    """Return every KPI (and service-level variant) that makes sense for ``scope``, or ``only``."""
    return {
        kpi.key: kpi.compute(facts, thresholds)
        for kpi in ALL_FIGURES
        if scope in kpi.scopes and (only is None or kpi.key in only)
    }
