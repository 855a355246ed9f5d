"""The recording service's FastAPI app: resources opened in the lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from cc_common.app import create_service_app, open_bus, open_database
from cc_recording.adapters.db import SCHEMA
from cc_recording.settings import RecordingSettings


def create_app(settings: RecordingSettings) -> FastAPI:
    """Build the recording app; nothing is opened until the lifespan starts."""

    async def startup(app: FastAPI, stack: AsyncExitStack) -> None:
        await open_database(app, stack, settings, schema=SCHEMA, package="cc_recording")
        await open_bus(app, stack, settings, service="recording")

    return create_service_app(settings=settings, title="recording", startup=startup)
