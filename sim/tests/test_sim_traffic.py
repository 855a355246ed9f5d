"""The traffic generator: reproducible from a seed, Poisson arrivals, and time compression."""

from __future__ import annotations

import asyncio
import time

import pytest

from cc_common.esl import EslEvent, InboundClient
from cc_sim import Action, SimConfig, Simulator, default_dialplan
from cc_sim.testing import SwitchBench
from cc_sim.traffic import AgentTraffic, Distribution, NumberTraffic, TrafficGenerator


def test_sim_distributions_parse_sample_and_refuse_nonsense() -> None:
    assert Distribution.parse("30") == Distribution("fixed", 30.0)
    assert Distribution.parse("uniform:20-40").mean == 30.0
    exp = Distribution.parse("exp:180")
    import random

    rng = random.Random(3)
    samples = [exp.sample(rng) for _ in range(20000)]
    assert 170 < sum(samples) / len(samples) < 190
    lognormal = Distribution.parse("lognormal:120,40")
    values = [lognormal.sample(rng) for _ in range(20000)]
    assert 115 < sum(values) / len(values) < 125
    with pytest.raises(ValueError, match="unknown distribution"):
        Distribution.parse("gamma:3")
    with pytest.raises(ValueError, match="low-high"):
        Distribution.parse("uniform:40-20")
    with pytest.raises(ValueError, match="cannot read"):
        Distribution.parse("exp:soon")
    with pytest.raises(ValueError, match="calls_per_hour"):
        NumberTraffic("8000", calls_per_hour=-1)


def menu_bench() -> SwitchBench:
    plan = default_dialplan()
    plan.set_extension("default", "8000", [Action("answer"), Action("park")])
    return SwitchBench(dialplan=plan)


def run_traffic(seed: int, hours: float) -> TrafficGenerator:
    bench = menu_bench()
    traffic = TrafficGenerator(
        bench.switch,
        bench.callers,
        numbers=[
            NumberTraffic(
                "8000",
                calls_per_hour=120,
                ivr_choices=(("1", 3.0), ("2", 1.0)),
                patience=Distribution.parse("exp:60"),
                talk=None,
            )
        ],
        seed=seed,
    )
    traffic.start()
    bench.advance(hours * 3600)
    traffic.stop()
    bench.advance(600)
    return traffic


def test_sim_traffic_is_reproducible_and_poisson() -> None:
    first = run_traffic(seed=11, hours=5)
    again = run_traffic(seed=11, hours=5)
    other = run_traffic(seed=12, hours=5)
    stats = first.stats["8000"]
    assert stats == again.stats["8000"]
    assert stats != other.stats["8000"]
    assert 520 < stats.offered < 680  # 120/h over 5 h
    assert 0.70 < stats.choices["1"] / stats.offered < 0.80
    assert stats.abandoned == stats.offered  # nobody answers: every caller gives up
    assert stats.causes["NORMAL_CLEARING"] == stats.offered  # answered by the menu first


def test_sim_agents_from_traffic_config_answer_and_wrap_up() -> None:
    bench = menu_bench()
    traffic = TrafficGenerator(
        bench.switch,
        bench.callers,
        numbers=[NumberTraffic("8000", calls_per_hour=0)],
        agents=AgentTraffic(users=("1001",), answer_delay=(1, 1), wrap_up=(20, 20)),
    )
    traffic.start()
    first = bench.api("originate", "{origination_uuid=a1}user/1001 &park()")
    bench.advance(1.5)
    assert first == ["+OK a1\n"]
    bench.api("uuid_kill", "a1")
    bench.advance(1)
    busy = bench.api("originate", "user/1001 &park()")
    bench.advance(1)
    assert busy == ["-ERR USER_BUSY\n"]
    bench.advance(20)
    ready = bench.api("originate", "user/1001 &park()")
    bench.advance(2)
    assert ready
    assert ready[0].startswith("+OK")


@pytest.mark.slow
async def test_sim_time_compressed_traffic_over_esl() -> None:
    """An hour of calls in about a second of real time, seen by the platform's ESL client."""
    plan = default_dialplan()
    plan.set_extension("default", "8000", [Action("answer"), Action("park")])
    config = SimConfig(esl_port=0, time_compression=2000.0)
    async with Simulator(config, dialplan=plan) as sim:
        creates: list[EslEvent] = []
        async with InboundClient("127.0.0.1", sim.esl_port, reconnect=False) as client:
            client.on("CHANNEL_CREATE", creates.append)
            await client.events("json", "CHANNEL_CREATE")
            traffic = TrafficGenerator(
                sim.switch,
                sim.callers,
                numbers=[
                    NumberTraffic("8000", calls_per_hour=360, patience=Distribution("fixed", 30))
                ],
                seed=5,
            )
            started = time.monotonic()
            traffic.start()
            await asyncio.sleep(3600 / 2000)
            traffic.stop()
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.1)
        offered = traffic.stats["8000"].offered
        assert 200 < offered < 420  # 360 expected; a loaded machine fires timers late
        assert len(creates) >= offered - 5
        assert elapsed < 5
        stamps = sorted(int(e.get("Event-Date-Timestamp") or 0) for e in creates)
        assert (stamps[-1] - stamps[0]) / 1_000_000 > 2400  # simulated time spans ~an hour
