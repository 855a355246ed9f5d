"""Staffing against the reference points of KPIs.md, worked out independently here."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from cc_metrics.core.staffing import (
    ForecastInterval,
    StaffingTarget,
    staff_forecast,
    staff_interval,
)

NINE = datetime(2025, 3, 3, 9, tzinfo=UTC)


def poisson_terms(traffic: int, upto: int) -> list[Fraction]:
    """A^k / k! for k = 0..upto, exactly."""
    return [Fraction(traffic**k, math.factorial(k)) for k in range(upto + 1)]


def erlang_c_by_hand(traffic: int, agents: int) -> float:
    """C = (A^c/c! · c/(c−A)) / (Σ_{k<c} A^k/k! + A^c/c! · c/(c−A)), the textbook form."""
    terms = poisson_terms(traffic, agents)
    top = terms[agents] * Fraction(agents, agents - traffic)
    return float(top / (sum(terms[:agents]) + top))


def erlang_b_by_hand(traffic: int, trunks: int) -> float:
    """B = (A^N/N!) / Σ_{k≤N} A^k/k!."""
    terms = poisson_terms(traffic, trunks)
    return float(terms[trunks] / sum(terms))


def hourly(calls: float, aht: float = 180.0) -> ForecastInterval:
    return ForecastInterval(NINE, calls, aht)


HOURLY = StaffingTarget(service_level=0.80, threshold_seconds=20, interval_seconds=3600)


def test_200_calls_an_hour_at_180_seconds_needs_14_agents_for_80_20() -> None:
    plan = staff_interval(hourly(200), HOURLY)
    assert plan.traffic_erlangs == pytest.approx(10.0)
    assert plan.agents == 14


@pytest.mark.parametrize(
    ("agents", "service_level", "asa", "occupancy"),
    [(14, 0.8884, 7.8359, 0.7143), (13, 0.7956, 17.1162, 0.7692)],
)
def test_reference_points_to_four_decimals(
    agents: int, service_level: float, asa: float, occupancy: float
) -> None:
    wait = erlang_c_by_hand(10, agents)
    by_hand_sl = 1 - wait * math.exp(-(agents - 10) * 20 / 180)
    by_hand_asa = wait * 180 / (agents - 10)
    assert round(by_hand_sl, 4) == service_level
    assert round(by_hand_asa, 4) == asa
    from cc_common.erlang import erlang_c_metrics

    model = erlang_c_metrics(
        calls_per_hour=200, aht_seconds=180, agents=agents, threshold_seconds=20
    )
    assert round(model.service_level, 4) == service_level
    assert round(model.asa_seconds, 4) == asa
    assert round(model.occupancy, 4) == occupancy


def test_the_plan_reports_what_14_agents_deliver() -> None:
    plan = staff_interval(hourly(200), HOURLY)
    assert plan.service_level is not None
    assert round(plan.service_level, 4) == 0.8884
    assert plan.asa_seconds is not None
    assert round(plan.asa_seconds, 4) == 7.8359
    assert plan.abandon_probability is None


def test_a_15_minute_forecast_is_scaled_to_its_rate() -> None:
    quarter = staff_interval(ForecastInterval(NINE, 50, 180), StaffingTarget(interval_seconds=900))
    assert quarter.traffic_erlangs == pytest.approx(10.0)
    assert quarter.agents == 14


def test_shrinkage_raises_the_agents_to_schedule() -> None:
    plan = staff_interval(hourly(200), StaffingTarget(interval_seconds=3600, shrinkage=0.30))
    assert plan.agents == 14
    assert plan.scheduled_agents == 20  # 14 / 0.7 = 20 exactly


def test_patience_uses_erlang_a_and_needs_no_more_agents_than_erlang_c() -> None:
    patient = StaffingTarget(interval_seconds=3600, patience_seconds=60.0)
    plan = staff_interval(hourly(200), patient)
    assert plan.abandon_probability is not None
    assert 0 < plan.abandon_probability < 0.1
    assert plan.agents <= 14
    assert plan.service_level is not None
    assert plan.service_level >= 0.80


def test_erlang_a_tends_to_erlang_c_as_callers_grow_patient() -> None:
    endless = StaffingTarget(interval_seconds=3600, patience_seconds=1e9)
    plan = staff_interval(hourly(200), endless)
    assert plan.agents == 14
    assert plan.service_level is not None
    assert round(plan.service_level, 4) == 0.8884


def test_trunks_by_erlang_b() -> None:
    target = StaffingTarget(interval_seconds=3600, trunk_blocking=0.01, trunk_holding_seconds=180)
    plan = staff_interval(hourly(200), target)
    assert plan.trunks == 18  # 10 E at 1 % grade of service
    assert erlang_b_by_hand(10, 17) > 0.01 >= erlang_b_by_hand(10, 18)
    assert plan.trunk_blocking == pytest.approx(erlang_b_by_hand(10, 18))


def test_an_interval_without_calls_needs_nobody() -> None:
    plan = staff_interval(hourly(0), HOURLY)
    assert (plan.agents, plan.scheduled_agents, plan.service_level) == (0, 0, None)


def test_a_forecast_is_planned_interval_by_interval() -> None:
    forecast = [
        ForecastInterval(NINE + timedelta(minutes=15 * i), c, 180)
        for i, c in enumerate([10, 50, 80])
    ]
    plans = staff_forecast(forecast, StaffingTarget())
    assert [p.agents for p in plans] == sorted(p.agents for p in plans)
    assert plans[1].agents == 14


@pytest.mark.parametrize(
    "kwargs",
    [{"service_level": 1.0}, {"shrinkage": 1.0}, {"patience_seconds": 0}, {"trunk_blocking": 0}],
)
def test_bad_targets_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        StaffingTarget(**kwargs)  # type: ignore[arg-type]
