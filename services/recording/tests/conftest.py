"""Fixtures for the recording service tests: the app on real PostgreSQL and RabbitMQ, and S3."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from cc_common.bus._rabbit import RabbitBus
from cc_recording.testing import S3Server, Service, ServiceFactory, service_settings, start_moto
from cc_recording.testing import start_service as start_recording
from cc_sim.switches import SwitchEndpoint


@pytest.fixture
async def start_service(
    pg_url: str,
    amqp_url: str,
    unique_name: Callable[[str], str],
    make_rabbit_bus: Callable[..., Awaitable[RabbitBus]],
    rabbit_cleanup: Any,
    tmp_path: Path,
) -> AsyncIterator[ServiceFactory]:
    """Yield a starter of recording services sharing one database, exchange and queue."""
    exchange = unique_name("ex")
    queue = rabbit_cleanup.queue(unique_name("recording"))
    publisher = await make_rabbit_bus(exchange=exchange)
    async with AsyncExitStack() as stack:

        async def start(*, switch: SwitchEndpoint | None = None, **overrides: Any) -> Service:
            if switch is not None:
                overrides = {
                    "recording_esl": True,
                    "esl_host": switch.host,
                    "esl_port": switch.esl_port,
                    "esl_password": switch.password,
                    **overrides,
                }
            settings = service_settings(
                database_url=pg_url,
                amqp_url=amqp_url,
                exchange=exchange,
                queue=queue,
                directory=tmp_path,
                **overrides,
            )
            service = await start_recording(settings, publisher, stack)
            if switch is not None:  # attached to FreeSWITCH, subscribed and reconciled

                async def ready() -> bool:
                    return (await service.client.get("/readyz")).status_code == 200

                async with asyncio.timeout(30):
                    while not await ready():
                        await asyncio.sleep(0.05)
            return service

        yield start


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the session."""
    server = start_moto()
    yield server
    server.process.terminate()
    server.process.wait(10)
