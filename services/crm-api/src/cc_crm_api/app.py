"""The crm-api service's FastAPI app: resources opened in the lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from cc_common.app import create_service_app, open_bus, open_database
from cc_crm_api.adapters.db import SCHEMA
from cc_crm_api.settings import CrmApiSettings


def create_app(settings: CrmApiSettings) -> FastAPI:
    """Build the crm-api app; nothing is opened until the lifespan starts."""

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        await open_database(app, stack, settings, schema=SCHEMA, package="cc_crm_api")
        await open_bus(app, stack, settings, service="crm-api")

    return create_service_app(settings=settings, title="crm-api", startup=startup)
