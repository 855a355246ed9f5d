"""The routing service's FastAPI app: resources opened in the lifespan."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

from fastapi import FastAPI

from cc_common.app import add_readiness_check, create_service_app, open_bus, open_database
from cc_routing.adapters.db import SCHEMA
from cc_routing.api import router
from cc_routing.dialer_api import router as dialer_router
from cc_routing.runtime import Clock
from cc_routing.service import RoutingService
from cc_routing.settings import RoutingSettings


def create_app(
    settings: RoutingSettings, *, clock: Clock = time.time, clock_rate: float = 1.0
) -> FastAPI:
    """Build the routing app; nothing is opened until the lifespan starts.

    ``clock`` (epoch seconds) is the service's time: ring timeouts, wrap-up and event times.
    ``clock_rate`` says how many of its seconds pass per real second (a compressed demo day
    runs faster than real time), so timers sleep the real time their deadline needs.
    """

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        db = await open_database(app, stack, settings, schema=SCHEMA, package="cc_routing")
        bus = await open_bus(app, stack, settings, service="routing")
        service = RoutingService(settings, db, bus, clock=clock, clock_rate=clock_rate)
        app.state.routing = service
        stack.push_async_callback(service.stop)
        service.start()
        add_readiness_check(app, "freeswitch", service.check_freeswitch)

    return create_service_app(
        settings=settings, title="routing", startup=startup, routers=[router, dialer_router]
    )
