"""Test helpers for the crm-api: a running app with an admin key (used by tests and benches)."""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from cc_common.bus import Bus
from cc_common.db import Database
from cc_common.testing import TEST_SERVICE_TOKEN
from cc_common.testing import serve as serve  # where the crm-api tests have always found it
from cc_crm_api.adapters.sealing import new_key_text
from cc_crm_api.settings import CrmApiSettings


@dataclass
class Crm:
    """A running crm-api app, a client holding the bootstrap admin key, and its exchange."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: CrmApiSettings
    admin_token: str
    publisher: Bus
    stack: AsyncExitStack

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    def auth(self, token: str | None = None) -> dict[str, str]:
        """Return the Authorization header for a token (the admin key by default)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    async def key(self, *scopes: str, name: str = "test key", **extra: Any) -> str:
        """Create a key with ``scopes`` and return its token."""
        reply = await self.client.post(
            "/v1/api-keys",
            json={"name": name, "scopes": list(scopes), **extra},
            headers=self.auth(),
        )
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token

    async def stop(self) -> None:
        """End the app's lifespan."""
        await self.stack.aclose()


CrmFactory = Callable[..., Awaitable[Crm]]


@dataclass
class Received:
    """One request a webhook receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """An HTTP endpoint that records what it is sent and answers with the statuses it is given."""

    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 204
    answer_after: float = 0.0
    """Seconds to hold each request before answering (a slow receiver)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(headers, b"".join(chunks)))
        status = self.statuses.pop(0) if self.statuses else self.default_status
        await asyncio.sleep(self.answer_after)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Platform:
    """Routing (on a simulator), metrics, recording and the crm-api, each served over HTTP on
    loopback."""

    crm: FastAPI
    url: str
    admin_token: str
    routing: FastAPI
    metrics_url: str
    sim: Any
    recording: FastAPI | None = None

    @property
    def db(self) -> Database:
        db: Database = self.crm.state.db
        return db

    def auth(self, token: str | None = None) -> dict[str, str]:
        """Return the Authorization header for a token (the admin key by default)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """Return a real HTTP client of the crm-api holding ``token`` (the admin key by default)."""
        return httpx.AsyncClient(base_url=self.url, headers=self.auth(token), timeout=30)


@asynccontextmanager
async def run_platform(
    *,
    database_url: str,
    amqp_url: str,
    exchange: str,
    metrics_queue: str,
    recording_queue: str | None = None,
    routes: tuple[Any, ...] = (),
    tenant: str = "acme",
    esl: tuple[str, int, str] | None = None,
    **crm: Any,
) -> AsyncIterator[Platform]:
    """Start routing, metrics, recording and the crm-api on one database and exchange, routing
    on the switch at ``esl`` (host, port, password) or, by default, on a simulator started here.

    The recording service serves the QA API the crm-api passes through to; it records no call
    (its default policy is ``none``, and it has no event socket of its own)."""
    from cc_crm_api.app import create_app
    from cc_metrics.app import create_app as create_metrics
    from cc_metrics.settings import MetricsSettings
    from cc_recording.app import create_app as create_recording
    from cc_recording.settings import RecordingSettings
    from cc_routing.app import create_app as create_routing
    from cc_routing.settings import RoutingSettings
    from cc_sim.config import SimConfig
    from cc_sim.simulator import Simulator

    async with AsyncExitStack() as stack:
        files = stack.enter_context(tempfile.TemporaryDirectory(prefix="cc-platform-"))
        sim = None
        if esl is None:
            sim = await stack.enter_async_context(
                Simulator(SimConfig(esl_port=0, routes=routes, seed=5))
            )
            esl = ("127.0.0.1", sim.esl_port, "ClueCon")
        common: dict[str, Any] = {
            "tenant": tenant,
            "database_url": database_url,
            "amqp_url": amqp_url,
            "bus_exchange": exchange,
            "service_token": TEST_SERVICE_TOKEN,  # routing and metrics admit crm-api by it
        }
        host, port, password = esl
        routing = create_routing(
            RoutingSettings(**common, esl_host=host, esl_port=port, esl_password=password)
        )
        await stack.enter_async_context(routing.router.lifespan_context(routing))
        async with asyncio.timeout(30):
            await routing.state.routing.live.wait()
        routing_url = await stack.enter_async_context(serve(routing))
        metrics = create_metrics(MetricsSettings(**common, metrics_queue=metrics_queue))
        await stack.enter_async_context(metrics.router.lifespan_context(metrics))
        metrics_url = await stack.enter_async_context(serve(metrics))
        recording = create_recording(
            RecordingSettings(
                **common,
                recording_queue=recording_queue or f"{exchange}.recording",
                recording_esl=False,
                recording_default_mode="none",
                recording_switch_dir=str(Path(files) / "switch"),
                recording_storage_dir=str(Path(files) / "store"),
                recording_keks=new_key_text("a"),
                recording_kek_id="a",
                recording_signing_key=secrets.token_urlsafe(32),
            )
        )
        await stack.enter_async_context(recording.router.lifespan_context(recording))
        recording_url = await stack.enter_async_context(serve(recording))
        crm.setdefault("crm_webhook_keys", new_key_text("test"))  # a fresh one per platform
        settings = CrmApiSettings(
            **common,
            crm_routing_url=routing_url,
            crm_metrics_url=metrics_url,
            crm_recording_url=recording_url,
            **crm,
        )
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        url = await stack.enter_async_context(serve(app))
        token = settings.crm_bootstrap_key
        admin = token.get_secret_value() if token else ""
        yield Platform(app, url, admin, routing, metrics_url, sim, recording)


async def messages(response: httpx.Response, count: int, within: float = 30.0) -> list[Any]:
    """Read ``count`` SSE messages: (id, event, data)."""
    out: list[Any] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(within):
        async for line in response.aiter_lines():
            if line == "":
                if "data" in fields:
                    seq = int(fields["id"]) if "id" in fields else None
                    out.append((seq, fields.get("event"), json.loads(fields["data"])))
                    if len(out) == count:
                        return out
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
    return out
