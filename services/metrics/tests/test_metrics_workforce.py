"""Adherence, attendance and costs from schedules and state segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cc_metrics.core.agents import Segment
from cc_metrics.core.workforce import (
    Activity,
    CostEntry,
    ScheduleEntry,
    cost_facts,
    workforce_facts,
)
from cc_proto.events import AgentState

S = AgentState
NINE = datetime(2025, 3, 3, 9, tzinfo=UTC)


def m(minutes: float) -> datetime:
    return NINE + timedelta(minutes=minutes)


def seg(state: AgentState, start: float, end: float, agent: str = "a1") -> Segment:
    return Segment(agent, "blue", state, m(start), m(end))


def test_adherence_counts_scheduled_time_in_the_scheduled_activity() -> None:
    schedule = [
        ScheduleEntry("a1", m(0), m(20), Activity.WORK),
        ScheduleEntry("a1", m(20), m(30), Activity.BREAK),
    ]
    segments = [
        seg(S.AVAILABLE, 2, 10), seg(S.ON_CALL, 10, 22), seg(S.BREAK, 22, 30),
    ]  # fmt: skip
    facts = workforce_facts(schedule, segments)
    first, second = facts[("a1", m(0))], facts[("a1", m(15))]
    assert first["scheduled_seconds"] == 900
    assert first["adherent_seconds"] == 13 * 60  # late by 2 minutes
    assert second["scheduled_seconds"] == 900
    # 15-20 work and on call (5 min); 20-22 on call during break (0); 22-30 on break (8 min)
    assert second["adherent_seconds"] == 13 * 60


def test_attendance_counts_scheduled_intervals_with_the_agent_logged_in() -> None:
    schedule = [ScheduleEntry("a1", m(0), m(45), Activity.WORK)]
    facts = workforce_facts(schedule, [seg(S.NOT_READY, 20, 25)])
    assert [facts[("a1", m(x))]["attended_agent_intervals"] for x in (0, 15, 30)] == [0, 1, 0]
    assert all(facts[("a1", m(x))]["scheduled_agent_intervals"] == 1 for x in (0, 15, 30))


def test_agents_without_a_schedule_get_no_workforce_facts() -> None:
    assert workforce_facts([], [seg(S.AVAILABLE, 0, 60)]) == {}


def test_costs_are_spread_pro_rata_over_intervals() -> None:
    spread = cost_facts([CostEntry("queue", "sales", m(10), m(40), 300.0)])
    assert spread == {
        ("queue", "sales", m(0)): pytest.approx(50.0),
        ("queue", "sales", m(15)): pytest.approx(150.0),
        ("queue", "sales", m(30)): pytest.approx(100.0),
    }


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        ScheduleEntry("a1", m(10), m(10), Activity.WORK)
    with pytest.raises(ValueError, match="negative"):
        CostEntry("tenant", "", m(0), m(15), -1.0)
