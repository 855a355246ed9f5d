"""The routing service's FastAPI app: resources opened in the lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from cc_common.app import create_service_app, open_bus, open_database
from cc_routing.adapters.db import SCHEMA
from cc_routing.settings import RoutingSettings


def create_app(settings: RoutingSettings) -> FastAPI:
    """Build the routing app; nothing is opened until the lifespan starts."""

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        await open_database(app, stack, settings, schema=SCHEMA, package="cc_routing")
        await open_bus(app, stack, settings, service="routing")

    return create_service_app(settings=settings, title="routing", startup=startup)
