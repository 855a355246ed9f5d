"""Fixtures for the recording service tests: the app on real PostgreSQL and RabbitMQ, and S3."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from cc_common.bus._rabbit import RabbitBus
from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_recording.app import create_app
from cc_recording.settings import RecordingSettings
from cc_recording.testing import KEK_A, TENANT, S3Server, Service, ServiceFactory, start_moto
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
            values: dict[str, Any] = {
                "tenant": TENANT,
                "database_url": pg_url,
                "amqp_url": amqp_url,
                "bus_exchange": exchange,
                "recording_queue": queue,
                "bus_delivery_limit": 2,
                "recording_esl": switch is not None,
                "recording_switch_dir": str(tmp_path / "switch"),
                "recording_storage_dir": str(tmp_path / "store"),
                "recording_keks": f"a:{KEK_A}",
                "recording_kek_id": "a",
                "recording_signing_key": "test-signing-key",
                "recording_move_first_retry": 0.2,
                "recording_move_poll": 0.2,
                "service_token": TEST_SERVICE_TOKEN,
            }
            if switch is not None:
                values.update(
                    esl_host=switch.host, esl_port=switch.esl_port, esl_password=switch.password
                )
            values.update(overrides)
            settings = RecordingSettings(**values)
            app = create_app(settings)
            own = AsyncExitStack()
            stack.push_async_callback(own.aclose)
            await own.enter_async_context(app.router.lifespan_context(app))
            client = await own.enter_async_context(api_client(app, "http://recording"))
            if switch is not None:  # attached to FreeSWITCH, subscribed and reconciled

                async def ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                async with asyncio.timeout(30):
                    while not await ready():
                        await asyncio.sleep(0.05)
            return Service(app, client, publisher, settings, own)

        yield start


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the session."""
    server = start_moto()
    yield server
    server.process.terminate()
    server.process.wait(10)
