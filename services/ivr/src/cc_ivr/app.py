"""The ivr service's FastAPI app: resources opened in the lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from cc_common.app import create_service_app, open_bus, open_database
from cc_ivr.adapters.db import SCHEMA
from cc_ivr.settings import IvrSettings


def create_app(settings: IvrSettings) -> FastAPI:
    """Build the ivr app; nothing is opened until the lifespan starts."""

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        await open_database(app, stack, settings, schema=SCHEMA, package="cc_ivr")
        await open_bus(app, stack, settings, service="ivr")

    return create_service_app(settings=settings, title="ivr", startup=startup)
