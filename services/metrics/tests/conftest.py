"""Fixtures for the metrics service tests: a running app on the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from cc_common.bus._rabbit import RabbitBus
from cc_common.db import Database
from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_metrics.adapters.db import kit
from cc_metrics.app import create_app
from cc_metrics.settings import MetricsSettings
from cc_metrics.testing import Clock


@dataclass
class Service:
    """A running metrics app, a client for its API and a publisher on its exchange."""

    app: FastAPI
    client: httpx.AsyncClient
    publisher: RabbitBus
    settings: MetricsSettings
    clock: Clock
    stack: AsyncExitStack

    async def stop(self) -> None:
        """Shut the service down (its lifespan ends: consumer, bus, database)."""
        await self.stack.aclose()

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    async def processed(self) -> int:
        """Return how many event ids the service has committed."""
        async with self.db.session() as session:
            count = await session.execute(select(func.count()).select_from(kit.processed_events))
            return int(count.scalar_one())

    async def wait_processed(self, count: int, within: float = 30.0) -> None:
        """Wait until ``count`` distinct events are committed."""
        async with asyncio.timeout(within):
            while await self.processed() < count:
                await asyncio.sleep(0.05)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        """GET from the service's API."""
        return await self.client.get(path, params=params)


ServiceFactory = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_service(
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    make_rabbit_bus: Callable[..., Awaitable[RabbitBus]],
    rabbit_cleanup: Any,
) -> AsyncIterator[ServiceFactory]:
    """Yield a starter of metrics services sharing one database, exchange and queue."""
    exchange = unique_name("ex")
    queue = rabbit_cleanup.queue(unique_name("metrics"))
    publisher = await make_rabbit_bus(exchange=exchange)
    async with AsyncExitStack() as stack:

        async def start(
            *, database_url: str | None = None, clock: Clock | None = None, **overrides: Any
        ) -> Service:
            settings = MetricsSettings(
                tenant="acme",
                database_url=database_url or pg_url,
                amqp_url=amqp_url,
                bus_exchange=exchange,
                metrics_queue=queue,
                bus_delivery_limit=2,
                metrics_queues=["sales", "support"],
                metrics_teams=["blue"],
                **{"service_token": TEST_SERVICE_TOKEN, **overrides},
            )
            clock = clock or Clock()
            app = create_app(settings, clock=clock)
            own = AsyncExitStack()
            stack.push_async_callback(own.aclose)
            await own.enter_async_context(app.router.lifespan_context(app))
            client = await own.enter_async_context(api_client(app, "http://metrics"))
            return Service(app, client, publisher, settings, clock, own)

        yield start
