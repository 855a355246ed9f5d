"""Fixtures for the cross-service tests: routing on the switch under test, watched on the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from cc_common.bus import Bus
from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_metrics.app import create_app as create_metrics_app
from cc_metrics.settings import MetricsSettings
from cc_routing.settings import RoutingSettings
from cc_routing.testing import QUEUE, Published, routing_settings
from cc_sim.switches import SwitchUnderTest


@pytest.fixture
async def routed_switch(
    switch: SwitchUnderTest,
    pg_url: str,
    amqp_url: str,
    make_rabbit_bus: Callable[..., Any],
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> tuple[SwitchUnderTest, RoutingSettings, Published]:
    """The switch, routing's settings for it, and everything routing publishes."""
    observer: Bus = await make_rabbit_bus()
    exchange = observer._exchange_name  # type: ignore[attr-defined]
    published = Published()
    tenant = unique_name("t")[:40]
    queue = rabbit_cleanup.queue(unique_name("published"))
    await observer.consume(queue, bindings=[f"{tenant}.#"], handler=published, concurrency=1)
    settings = routing_settings(
        switch.endpoint, tenant=tenant, pg_url=pg_url, amqp_url=amqp_url, exchange=exchange
    )
    return switch, settings, published


@pytest.fixture
async def metrics_api(
    routed_switch: tuple[SwitchUnderTest, RoutingSettings, Published],
    make_pg_url: Callable[[], Awaitable[str]],
    amqp_url: str,
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The metrics service (its reports API) on routing's tenant and exchange, running until
    the test ends: what routing publishes is counted as in a deployment."""
    routing = routed_switch[1]
    settings = MetricsSettings(
        tenant=routing.tenant,
        database_url=await make_pg_url(),
        amqp_url=amqp_url,
        bus_exchange=routing.bus_exchange,
        metrics_queue=rabbit_cleanup.queue(unique_name("metrics")),
        metrics_queues=[QUEUE],
        service_token=TEST_SERVICE_TOKEN,
    )
    app = create_metrics_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://metrics") as client:
        yield client
