"""Fixtures for the cross-service tests: routing on the switch under test, watched on the bus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cc_common.bus import Bus
from cc_routing.settings import RoutingSettings
from cc_routing.testing import Published, routing_settings
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
