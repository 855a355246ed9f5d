"""The metrics consumer through a broker restart in the middle of a backlog, on a RabbitMQ node of
the test's own: it resumes, counts every event once, and says it is down while it is."""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cc_common.bus._rabbit import RabbitBus
from cc_common.bus.private_node import PrivateRabbitNode
from cc_common.testing import eventually
from cc_metrics.adapters.db import kit
from cc_metrics.app import create_app
from cc_metrics.settings import MetricsSettings
from cc_metrics.testing import Clock, simulate_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Watch:
    """Polls ``/readyz`` and ``cc_metrics_consumer_up`` and remembers every answer."""

    def __init__(self, client: httpx.AsyncClient, registry: object) -> None:
        self.client = client
        self.registry = registry
        self.ready: list[bool] = []
        self.up: list[float] = []
        self._task = asyncio.create_task(self._poll())

    def consumer_up(self) -> float:
        value = self.registry.get_sample_value("cc_metrics_consumer_up")  # type: ignore[attr-defined]
        return float(value or 0.0)

    async def _poll(self) -> None:
        while True:
            self.up.append(self.consumer_up())
            try:
                response = await self.client.get("/readyz", timeout=5)
                self.ready.append(response.status_code == 200)
            except httpx.HTTPError:
                self.ready.append(False)
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_metrics_resumes_after_a_broker_restart_during_a_backlog_and_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    run = simulate_run(seed=5, agents=6, calls_per_hour=200, duration_seconds=1800)
    events = run.events
    async with PrivateRabbitNode(tmp_path / "rabbit") as node, AsyncExitStack() as stack:
        settings = MetricsSettings(
            tenant="acme",
            database_url=pg_url,
            amqp_url=node.url,
            bus_exchange="cc.events",
            metrics_queues=["sales"],
            metrics_concurrency=16,
        )
        publisher = RabbitBus(
            node.url,
            service="routing",
            exchange="cc.events",
            delivery_limit=settings.bus_delivery_limit,
        )
        await publisher.declare(settings.consumer_queue, bindings=["acme.#"])
        await publisher.close()
        # A broker in service has had its queues for long before it crashes. RabbitMQ writes a
        # new quorum queue's registration to disk lazily: killed seconds after the declaration,
        # it comes back without the queue's Raft member (a follower of term 0 that never elects
        # itself, so nothing is ever delivered). A clean restart puts the queue on disk first.
        await node.restart(kill=False)
        stack.push_async_callback(publisher.close)
        for start in range(0, len(events), 100):
            await asyncio.gather(*(publisher.publish(e) for e in events[start : start + 100]))

        app = create_app(settings, clock=Clock())
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics")
        )
        registry = app.state.registry
        watch = Watch(client, registry)
        stack.push_async_callback(watch.stop)

        def consumed() -> float:
            total = 0.0
            for metric in registry.collect():
                if metric.name == "cc_metrics_events_consumed":
                    total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
            return total

        await eventually(lambda: consumed() > 0, within=30)
        await node.kill()  # mid-backlog: the consumer has events in hand
        killed_at = len(watch.ready)
        assert consumed() < len(events), "the backlog drained before the broker went down"
        await eventually(lambda: False in watch.ready[killed_at:], within=10)
        await eventually(lambda: 0.0 in watch.up[killed_at:], within=10)
        await node.start()

        async def processed() -> int:
            async with app.state.db.session() as session:
                count = await session.execute(
                    select(func.count()).select_from(kit.processed_events)
                )
                return int(count.scalar_one())

        deadline = time.monotonic() + 60
        while await processed() < len(events):
            assert time.monotonic() < deadline, f"stalled at {await processed()}/{len(events)}"
            await asyncio.sleep(0.2)
        await eventually(lambda: watch.ready[-1] and watch.up[-1] == 1.0, within=20)
        assert await processed() == len(events)  # every event counted once
        assert await publisher.dead_letters(settings.consumer_queue) == []
