"""A simulated run: KPIs from its events equal the figures from its own call records."""

from __future__ import annotations

import pytest

from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.facts import Facts, add_facts
from cc_metrics.core.kpis import KPI_BY_KEY
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.testing import SimRun, simulate_run

T = Thresholds(service_level_seconds=20, short_abandon_seconds=5)


def totals(run: SimRun) -> tuple[Facts, Facts]:
    engine = MetricsEngine(tenant="acme", thresholds=T)
    queue: Facts = {}
    agents: Facts = {}
    for event in run.events:
        out = engine.apply(event)
        for facts in out.queue_facts.values():
            add_facts(queue, facts)
        for facts in out.agent_facts.values():
            add_facts(agents, facts)
    return queue, agents


@pytest.mark.parametrize(("seed", "agents", "per_hour"), [(11, 7, 120), (12, 5, 110), (13, 9, 150)])
def test_service_level_asa_and_occupancy_match_the_run(
    seed: int, agents: int, per_hour: int
) -> None:
    run = simulate_run(seed=seed, agents=agents, calls_per_hour=per_hour, duration_seconds=3 * 3600)
    queue, agent = totals(run)
    answered = [c for c in run.calls if c.answered is not None]
    short = [c for c in run.calls if c.abandoned is not None and c.wait <= 5]
    within = [c for c in answered if c.wait <= 20]

    service_level = KPI_BY_KEY["service_level"].compute(queue, T).value
    assert service_level == pytest.approx(len(within) / (len(run.calls) - len(short)), abs=1e-12)
    asa = KPI_BY_KEY["asa"].compute(queue, T).value
    assert asa == pytest.approx(sum(c.wait for c in answered) / len(answered), rel=1e-9)
    occupancy = KPI_BY_KEY["occupancy"].compute(agent, T).value
    expected = run.busy_seconds / (run.busy_seconds + run.idle_seconds)
    assert occupancy == pytest.approx(expected, rel=1e-9)
    assert len(answered) > 100
    assert len(short) > 0
