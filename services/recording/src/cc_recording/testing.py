"""Helpers for the recording service tests: the running app, and an S3-compatible server.

The S3-compatible store is moto's server mode run as its own process on loopback, so the
service talks real HTTP to it through boto3, exactly as it would to any object store.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from cc_common.bus._rabbit import RabbitBus
from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_proto import EventData, make_event
from cc_proto import events as ev
from cc_recording.adapters.recorder import Recorder
from cc_recording.app import create_app
from cc_recording.settings import RecordingSettings
from cc_sim.engine.media import wav_bytes
from cc_sim.switches import free_port

KEK_A = base64.b64encode(b"A" * 32).decode()
KEK_B = base64.b64encode(b"B" * 32).decode()
TENANT = "acme"


@dataclass
class Service:
    """A running recording app, a client for its API and a publisher on its exchange."""

    app: FastAPI
    client: httpx.AsyncClient
    publisher: RabbitBus
    settings: RecordingSettings
    stack: AsyncExitStack

    @property
    def recorder(self) -> Recorder:
        found: Recorder = self.app.state.recorder
        return found

    async def stop(self) -> None:
        """End the app's lifespan (consumer, ESL, bus, database)."""
        await self.stack.aclose()

    async def publish(
        self, data: EventData, *, call_id: str | None, agent_id: str | None = None
    ) -> None:
        """Publish an event as another service would."""
        await self.publisher.publish(
            make_event(data, tenant=TENANT, call_id=call_id, agent_id=agent_id)
        )

    async def recordings(self, **params: Any) -> list[dict[str, Any]]:
        reply = await self.client.get("/recordings", params=params)
        assert reply.status_code == 200, reply.text
        found: list[dict[str, Any]] = reply.json()
        return found

    async def wait_status(self, call_id: str, status: str, within: float = 30.0) -> dict[str, Any]:
        """Wait until the call's recording reaches ``status``; return it."""
        found: list[dict[str, Any]] = []

        async def check() -> bool:
            found[:] = await self.recordings(call_id=call_id)
            return bool(found) and found[0]["status"] == status

        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110  (polling the API is the point)
                await asyncio.sleep(0.1)
        return found[0]


ServiceFactory = Callable[..., Awaitable[Service]]


def service_settings(
    *,
    database_url: str,
    amqp_url: str,
    exchange: str,
    queue: str,
    directory: Path,
    **overrides: Any,
) -> RecordingSettings:
    """Settings of a test service: no switch, files under ``directory``, a test key and token."""
    values: dict[str, Any] = {
        "tenant": TENANT,
        "database_url": database_url,
        "amqp_url": amqp_url,
        "bus_exchange": exchange,
        "recording_queue": queue,
        "bus_delivery_limit": 2,
        "recording_esl": False,
        "recording_switch_dir": str(directory / "switch"),
        "recording_storage_dir": str(directory / "store"),
        "recording_keks": f"a:{KEK_A}",
        "recording_kek_id": "a",
        "recording_signing_key": "test-signing-key",
        "recording_move_first_retry": 0.2,
        "recording_move_poll": 0.2,
        "service_token": TEST_SERVICE_TOKEN,
        **overrides,
    }
    return RecordingSettings(**values)


async def start_service(
    settings: RecordingSettings, publisher: RabbitBus, stack: AsyncExitStack
) -> Service:
    """Run the app's lifespan on ``stack`` (closed with it) and return the running service."""
    app = create_app(settings)
    own = AsyncExitStack()
    stack.push_async_callback(own.aclose)
    await own.enter_async_context(app.router.lifespan_context(app))
    client = await own.enter_async_context(api_client(app, "http://recording"))
    return Service(app, client, publisher, settings, own)


async def stored_call(service: Service, call_id: str, agent: str, queue: str = "support") -> str:
    """Answer and end a call as routing would, the switch's file written meanwhile; return the
    id of its recording once stored."""
    await service.publish(
        ev.CallAnswered(queue=queue, agent_leg_uuid="b", wait_seconds=0, ring_seconds=1),
        call_id=call_id,
        agent_id=agent,
    )
    row = await service.wait_status(call_id, "recording")
    await asyncio.to_thread(Path(row["switch_path"]).write_bytes, wav_bytes(4, 8000, channels=2))
    await service.publish(
        ev.CallEnded(
            outcome=ev.CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=5
        ),
        call_id=call_id,
        agent_id=agent,
    )
    return str((await service.wait_status(call_id, "stored"))["id"])


# --- an S3-compatible server on loopback -----------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    """moto in server mode: its endpoint and the process, to stop it for outage tests."""

    endpoint: str
    process: subprocess.Popen[bytes]


def _wait_port(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start_moto(port: int | None = None) -> S3Server:
    """Start moto's S3 server as a separate process on loopback (a free port by default)."""
    port = port or free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _wait_port(port)
    return S3Server(f"http://127.0.0.1:{port}", process)


def s3_settings(endpoint: str, bucket: str) -> dict[str, Any]:
    """Settings that point the service at an S3-compatible endpoint."""
    return {
        "recording_storage": "s3",
        "recording_s3_endpoint": endpoint,
        "recording_s3_bucket": bucket,
        "recording_s3_access_key": "test",
        "recording_s3_secret_key": "test",
    }
