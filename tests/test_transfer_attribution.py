"""A blind transfer credits each agent with their own part of the call, end to end.

Routing's core carries a queue call answered by agent A through a hold and a blind transfer (to
agent B, to a queue B answers, to a number); what it publishes goes, as envelopes, into the
metrics engine. A's handled call, talk, hold and wrap-up are A's; B's are B's; the queue counts
the call handled once, with the talk and hold of both parts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
import pytest
from prometheus_client import CollectorRegistry

from cc_common.db import Database, migrations
from cc_common.testing import eventually
from cc_metrics.adapters.consumer import MetricsConsumer
from cc_metrics.adapters.db import SCHEMA
from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.facts import Facts, add_facts
from cc_metrics.core.kpis import KPI_BY_KEY
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.exposition import LiveMetrics
from cc_metrics.testing import Clock, report_facts, report_hour
from cc_proto import Envelope, EventData, make_event
from cc_routing.core.acd import Acd
from cc_routing.core.calls import ParkedCall
from cc_routing.core.commands import Command, OfferCall, PublishEvent
from cc_routing.core.config import QueueConfig
from cc_routing.core.testing import agent, answer, build, caller_left, legs_gone, of_type
from cc_routing.settings import RoutingSettings
from cc_routing.testing import (
    AGENT_AT_ONCE,
    QUEUE,
    Published,
    call_in,
    configure,
    routing,
    watch,
)
from cc_sim.switches import SwitchUnderTest

T0 = 1_800_000_000.0
"""A quarter-hour boundary: the whole call lies in one reporting interval."""
SUPPORT, BILLING = "support", "billing"
WRAP_A, WRAP_B = 4.0, 6.0
Target = Literal["agent", "queue", "number"]


class Run:
    """Routing's core with its published events applied to a metrics engine as they come."""

    def __init__(self) -> None:
        self.acd: Acd = build(
            [QueueConfig(SUPPORT), QueueConfig(BILLING)],
            [
                agent("a1", SUPPORT, wrap_up_seconds=WRAP_A),
                agent("b1", BILLING, wrap_up_seconds=WRAP_B),
            ],
            now=T0,
        )
        self.metrics = MetricsEngine(
            tenant="acme", thresholds=Thresholds(service_level_seconds=20, short_abandon_seconds=5)
        )
        self.queues: dict[str, Facts] = {}
        self.agents: dict[str, Facts] = {}
        self.published: list[Envelope[EventData]] = []

    def do(self, step: Callable[[], list[Command]]) -> list[Command]:
        """Run one core step and feed what it published to the metrics engine."""
        out = step()
        for published in of_type(out, PublishEvent):
            envelope = make_event(
                published.data,
                tenant="acme",
                occurred_at=published.occurred_at,
                call_id=published.call_id,
                agent_id=published.agent_id,
            )
            self.published.append(envelope)
            outcome = self.metrics.apply(envelope)
            for qkey, facts in outcome.queue_facts.items():
                add_facts(self.queues.setdefault(qkey.queue, {}), facts)
            for akey, facts in outcome.agent_facts.items():
                add_facts(self.agents.setdefault(akey.agent_id, {}), facts)
        return out


def transferred_call(target: Target) -> Run:
    """A answers at +1 s, holds +3..+5 s, transfers at +11 s; B (if any) answers at +13 s; the
    caller hangs up at +20 s; every wrap-up runs out."""
    run = Run()
    acd = run.acd
    (offer,) = of_type(run.do(lambda: acd.call_arrived(ParkedCall("c1", SUPPORT), T0)), OfferCall)
    assert offer.agent_id == "a1"
    run.do(lambda: answer(acd, offer.offer_id, T0 + 1))
    run.do(lambda: acd.hold_call("c1", T0 + 3))
    run.do(lambda: acd.resume_call("c1", T0 + 5))
    if target == "number":
        run.do(lambda: acd.transfer_to_number("c1", "+4930123456", T0 + 11))
        run.do(lambda: acd.agent_hung_up(offer.offer_id, T0 + 11))
    else:
        if target == "agent":
            out = run.do(lambda: acd.transfer_to_agent("c1", "b1", T0 + 11))
        else:
            out = run.do(lambda: acd.transfer_to_queue("c1", BILLING, T0 + 11))
        run.do(lambda: acd.agent_hung_up(offer.offer_id, T0 + 11))
        (again,) = of_type(out, OfferCall)
        assert again.agent_id == "b1"
        run.do(lambda: answer(acd, again.offer_id, T0 + 13))
        run.do(lambda: caller_left(acd, "c1", T0 + 20))
    run.do(lambda: acd.advance(T0 + 40))
    assert acd.agent_view("a1").state == "available"
    assert acd.agent_view("b1").state == "available"
    run.do(lambda: legs_gone(acd, [], T0 + 40))
    return run


def part(facts: Facts) -> tuple[float, float, float, float]:
    """An agent's (or queue's) handled calls, talk, hold and wrap-up."""
    keys = ("handled", "talk_seconds", "hold_seconds", "acw_seconds")
    return tuple(facts.get(key, 0.0) for key in keys)  # type: ignore[return-value]


@pytest.mark.parametrize("target", ["agent", "queue"])
def test_a_call_transferred_on_credits_each_agent_with_their_part(target: Target) -> None:
    run = transferred_call(target)
    assert part(run.agents["a1"]) == (1.0, 10.0, 2.0, WRAP_A)
    assert part(run.agents["b1"]) == (1.0, 7.0, 0.0, WRAP_B)
    handled_in = BILLING if target == "queue" else SUPPORT
    assert part(run.queues[handled_in]) == (1.0, 17.0, 2.0, WRAP_A + WRAP_B)
    other = run.queues.get(SUPPORT if target == "queue" else BILLING, {})
    assert other.get("handled", 0.0) == 0.0
    assert aht(run, "a1") == 10 + 2 + WRAP_A
    assert aht(run, "b1") == 7 + WRAP_B


def aht(run: Run, agent_id: str) -> float | None:
    """The agent's AHT from their facts (a fact that summed to zero is stored as none)."""
    facts = {"talk_seconds": 0.0, "hold_seconds": 0.0, "acw_seconds": 0.0, **run.agents[agent_id]}
    return KPI_BY_KEY["aht"].compute(facts, run.metrics.thresholds).value


def test_a_call_transferred_to_a_number_is_the_first_agents_alone() -> None:
    run = transferred_call("number")
    assert part(run.agents["a1"]) == (1.0, 10.0, 2.0, WRAP_A)
    assert "b1" not in run.agents
    assert part(run.queues[SUPPORT]) == (1.0, 10.0, 2.0, WRAP_A)
    assert run.queues[SUPPORT]["transferred"] == 1.0


@pytest.mark.parametrize("target", ["agent", "queue", "number"])
def test_the_parts_do_not_depend_on_the_order_events_arrive_in(target: Target) -> None:
    run = transferred_call(target)
    for seed in range(5):
        events = list(run.published)
        random.Random(seed).shuffle(events)
        engine = MetricsEngine(tenant="acme", thresholds=run.metrics.thresholds)
        agents: dict[str, Facts] = {}
        for envelope in events:
            for akey, facts in engine.apply(envelope).agent_facts.items():
                add_facts(agents.setdefault(akey.agent_id, {}), facts)
        for agent_id, facts in run.agents.items():
            assert part(agents[agent_id]) == pytest.approx(part(facts))


@pytest.mark.integration
@pytest.mark.parametrize("target", ["agent", "queue"])
async def test_the_parts_survive_the_store_between_events(target: Target, pg_url: str) -> None:
    """Each event in its own batch, the engine's memory dropped before each: every record is
    read back from PostgreSQL, parts included, and the agents' facts come out the same."""
    run = transferred_call(target)
    db = Database(pg_url, schemas=[SCHEMA])
    await migrations.upgrade(db, "cc_metrics")
    engine = MetricsEngine(tenant="acme", thresholds=run.metrics.thresholds)
    at = datetime.fromtimestamp(T0, UTC) + timedelta(hours=1)
    live = LiveMetrics(engine, registry=CollectorRegistry(), clock=Clock(at))
    consumer = MetricsConsumer(db=db, engine=engine, live=live, clock=Clock(at))
    agents: dict[str, Facts] = {}
    try:
        for envelope in run.published:
            engine.forget()
            await consumer.load()
            for outcome in await consumer.apply_batch([envelope]):
                for akey, facts in outcome.agent_facts.items():
                    add_facts(agents.setdefault(akey.agent_id, {}), facts)
    finally:
        await db.dispose()
    assert part(agents["a1"]) == (1.0, 10.0, 2.0, WRAP_A)
    assert part(agents["b1"]) == (1.0, 7.0, 0.0, WRAP_B)


@pytest.mark.integration
async def test_the_metrics_service_credits_each_agent_of_a_transfer_on_the_switch(
    routed_switch: tuple[SwitchUnderTest, RoutingSettings, Published],
    metrics_api: httpx.AsyncClient,
) -> None:
    """Routing and the metrics service over RabbitMQ: alice answers, transfers to bob, the
    caller hangs up on bob; each agent's report holds their own handled call and talk (as
    routing measured them), the queue's one handled call with both parts."""
    switch, settings, published = routed_switch
    started = report_hour()
    metrics = metrics_api
    async with watch(switch.endpoint) as (client, seen), routing(settings) as instance:
        await configure(instance.api, {"alice": AGENT_AT_ONCE}, wrap_up=1)
        bob = {"agent_id": "bob", "contact": AGENT_AT_ONCE, "tiers": {}}
        assert (await instance.api.put("/v1/agents/bob", json=bob)).status_code == 200
        assert (await instance.api.post("/v1/agents/bob/login", json={})).status_code == 200
        await call_in(client)
        await eventually(lambda: bool(seen.callers), within=15)
        caller = seen.callers[0]
        await eventually(lambda: bool(published.of("call.answered", caller)), within=15)
        await asyncio.sleep(1.0)  # alice talks
        to_bob = {"target_kind": "agent", "target": "bob"}
        reply = await instance.api.post(f"/v1/calls/{caller}/transfer", json=to_bob)
        assert reply.status_code == 202, reply.text
        await eventually(lambda: len(published.of("call.answered", caller)) == 2, within=20)
        await asyncio.sleep(1.0)  # bob talks
        await client.bgapi(f"uuid_kill {caller}")
        await eventually(lambda: bool(published.of("call.ended", caller)), within=15)
        [moved] = published.of("call.transferred", caller)
        [ended] = published.of("call.ended", caller)
        alice_talk = moved.data.talk_seconds  # type: ignore[attr-defined]
        bob_talk = ended.data.talk_seconds  # type: ignore[attr-defined]
        assert alice_talk >= 1.0
        assert bob_talk >= 1.0

        def counted(facts: dict[str, dict[str, float]]) -> bool:
            """Both agents' handled calls are in, and their wrap-ups are over and counted."""
            parts = {agent: facts.get(agent, {}) for agent in ("alice", "bob")}
            return all(
                p.get("handled") == 1.0 and p.get("acw_seconds", 0) > 0 for p in parts.values()
            )

        deadline = asyncio.get_running_loop().time() + 30
        while not counted(facts := await report_facts(metrics, "agents", started)):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        queue = (await report_facts(metrics, "queues", started, queue=QUEUE)).get(QUEUE, {})
    assert facts["alice"]["handled"] == 1.0
    assert facts["bob"]["handled"] == 1.0
    assert facts["alice"]["talk_seconds"] == pytest.approx(alice_talk, abs=1e-6)
    assert facts["bob"]["talk_seconds"] == pytest.approx(bob_talk, abs=1e-6)
    assert queue["handled"] == 1.0
    assert queue["talk_seconds"] == pytest.approx(alice_talk + bob_talk, abs=1e-6)
    assert queue["acw_seconds"] == pytest.approx(
        facts["alice"]["acw_seconds"] + facts["bob"]["acw_seconds"], abs=1e-6
    )
