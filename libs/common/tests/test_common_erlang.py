"""Erlang B, C and A against KPIs.md's reference points and their known limits."""

from __future__ import annotations

import math

import pytest

from cc_common.erlang import (
    agents_for_service_level,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    trunks_for_blocking,
)


@pytest.mark.parametrize(
    ("agents", "service_level", "asa", "occupancy"),
    [(14, 0.888, 7.8, 0.714), (13, 0.796, 17.1, 0.769)],
)
def test_erlang_c_matches_the_reference_points(
    agents: int, service_level: float, asa: float, occupancy: float
) -> None:
    result = erlang_c_metrics(
        calls_per_hour=200, aht_seconds=180, agents=agents, threshold_seconds=20
    )
    assert round(result.service_level, 3) == service_level
    assert round(result.asa_seconds, 1) == asa
    assert round(result.occupancy, 3) == occupancy


def test_erlang_b_recursion_and_trunk_sizing() -> None:
    assert erlang_b(10, 0) == 1.0
    assert erlang_b(1, 1) == pytest.approx(0.5)
    assert erlang_b(2, 2) == pytest.approx(0.4)  # (4/2) / (1 + 2 + 4/2)
    assert trunks_for_blocking(traffic=10, target_blocking=0.01) == 18
    assert erlang_c(10, 10) == 1.0  # no steady state without spare capacity


def test_staffing_for_80_20_is_14_agents() -> None:
    needed = agents_for_service_level(
        calls_per_hour=200, aht_seconds=180, target_service_level=0.8, threshold_seconds=20
    )
    assert needed == 14


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    a = erlang_a_metrics(
        calls_per_hour=200, aht_seconds=180, agents=13, patience_seconds=1e9, threshold_seconds=20
    )
    c = erlang_c_metrics(calls_per_hour=200, aht_seconds=180, agents=13, threshold_seconds=20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-4)
    assert a.abandon_probability < 1e-6


def test_erlang_a_with_patience_abandons_and_answers_faster() -> None:
    a = erlang_a_metrics(
        calls_per_hour=200, aht_seconds=180, agents=13, patience_seconds=120, threshold_seconds=20
    )
    assert 0.03 < a.abandon_probability < 0.05
    assert a.asa_seconds < 17.1
    assert a.occupancy == pytest.approx(10 * (1 - a.abandon_probability) / 13, rel=1e-9)


def test_erlang_a_survives_overload_with_long_patience() -> None:
    # Twice the capacity and near-infinite patience: half the callers must give up.
    a = erlang_a_metrics(
        calls_per_hour=400, aht_seconds=180, agents=10, patience_seconds=1e6, threshold_seconds=20
    )
    assert all(math.isfinite(x) for x in (a.service_level, a.asa_seconds, a.occupancy))
    assert a.abandon_probability == pytest.approx(0.5, abs=1e-3)
