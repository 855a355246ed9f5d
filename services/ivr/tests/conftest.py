"""Fixtures for the IVR's end-to-end tests: the project's dialplan on either switch, a CRM test
server on 127.0.0.1, and an IVR runner on real PostgreSQL whose events reach RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from cc_common.db import Database, Outbox, OutboxRelay, migrations
from cc_common.esl import EslEvent, InboundClient, OutboundServer
from cc_common.testing import eventually
from cc_ivr.adapters.crm import CrmClient
from cc_ivr.adapters.db import SCHEMA, kit
from cc_ivr.adapters.store import FlowStore
from cc_ivr.core.breaker import CircuitBreaker
from cc_ivr.runner import IvrRunner
from cc_ivr.telemetry import IvrMetrics
from cc_proto import Envelope, EventData
from cc_sim.core.xml_dialplan import read_dialplan_dir
from cc_sim.simulator import Simulator
from cc_sim.switches import free_port

FREESWITCH = Path(__file__).resolve().parents[3] / "freeswitch"
CONTEXT = "contact-center"


def load_project_dialplan(simulator: Simulator) -> None:
    """Give the simulator the contact-center context and variables of freeswitch/."""
    contexts, variables = read_dialplan_dir(FREESWITCH / "dialplan")
    simulator.dialplan.contexts[CONTEXT] = list(contexts[CONTEXT])
    simulator.switch.global_vars.update(variables)


# --- a CRM on 127.0.0.1 ----------------------------------------------------------------------

VIP = "15550001111"
UNKNOWN = "15550002222"
SLOW = "15550003333"
BROKEN = "15550004444"
GARBAGE = "15550005555"
ACCOUNT = "12345678"


def crm_app() -> FastAPI:
    """Customers by phone or account, and callers whose lookups time out, fail or return junk."""
    app = FastAPI()
    app.state.calls = 0

    @app.get("/customers/lookup")
    async def lookup(phone: str = "", account: str = "") -> Any:
        app.state.calls += 1
        if account == ACCOUNT:
            return {"customer_id": "C-1", "balance": "1234.50"}
        if phone == VIP:
            return {"customer_id": "C-1", "vip": True, "language": "en", "tier": "gold"}
        if phone == SLOW:
            await asyncio.sleep(5)
        if phone == BROKEN:
            return JSONResponse({"error": "down"}, status_code=500)
        if phone == GARBAGE:
            return JSONResponse(["not", "an", "object"])
        return JSONResponse({"detail": "no such customer"}, status_code=404)

    return app


@pytest.fixture
async def crm_url() -> AsyncIterator[str]:
    """Serve the test CRM on a free port of 127.0.0.1."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(crm_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, within=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


# --- the IVR under test ------------------------------------------------------------------------


@dataclass
class Ivr:
    """A running IVR: its runner, store, outbound port, and the events seen on RabbitMQ."""

    runner: IvrRunner
    store: FlowStore
    port: int
    registry: CollectorRegistry
    exchange: str
    server: OutboundServer
    events: list[Envelope[EventData]] = field(default_factory=list)

    def of(self, kind: str) -> list[Envelope[EventData]]:
        return [e for e in self.events if e.type == kind]


@pytest.fixture
async def ivr(
    pg_url: str,
    crm_url: str,
    make_rabbit_bus: Any,
    unique_name: Callable[[str], str],
    rabbit_cleanup: Any,
) -> AsyncIterator[Ivr]:
    """An IVR runner on an outbound socket at a free port, PostgreSQL, the outbox and RabbitMQ."""
    db = Database(pg_url, schemas=[SCHEMA])
    await migrations.upgrade(db, "cc_ivr")
    exchange = unique_name("ex")
    bus = await make_rabbit_bus(exchange=exchange, service="ivr")
    watcher = await make_rabbit_bus(exchange=exchange, service="watch")
    outbox = Outbox(kit.outbox)
    relay = OutboxRelay(db, bus, outbox, idle_poll=0.1)
    relay.start()
    store = FlowStore(db, outbox, "acme")
    crm = CrmClient(crm_url, breaker=CircuitBreaker(failures_to_open=3, open_seconds=60))
    registry = CollectorRegistry()
    runner = IvrRunner(
        tenant="acme",
        store=store,
        crm=crm,
        db=db,
        outbox=outbox,
        relay=relay,
        metrics=IvrMetrics(registry),
    )
    server = OutboundServer(runner.handle, "127.0.0.1", 0)
    await server.start()
    found = Ivr(runner, store, server.port, registry, exchange, server)

    async def collect(event: Envelope[EventData]) -> None:
        found.events.append(event)

    await watcher.consume(
        rabbit_cleanup.queue(unique_name("watch")), bindings=["acme.#"], handler=collect
    )
    try:
        yield found
    finally:
        await server.close()
        await relay.stop()
        await crm.close()
        await db.dispose()


# --- a caller on the switch ----------------------------------------------------------------------


class Caller:
    """One scripted caller: a loopback call into the contact-center context."""

    def __init__(self, client: InboundClient, a_leg: str, b_leg: str) -> None:
        self.client = client
        self.a_leg = a_leg
        self.b_leg = b_leg

    async def press(self, digits: str) -> None:
        """Send DTMF from the caller's half of the loopback pair."""
        reply = await self.client.api(f"uuid_send_dtmf {self.a_leg} {digits}")
        assert reply.ok, reply.text

    async def hang_up(self) -> None:
        """The caller hangs up."""
        await self.client.api(f"uuid_kill {self.a_leg}")

    async def variable(self, name: str) -> str | None:
        """Read a variable of the IVR's (dialplan) leg."""
        reply = await self.client.api(f"uuid_getvar {self.b_leg} {name}")
        text = reply.text.strip()
        return None if not reply.ok or text in ("_undef_", "") or text.startswith("-ERR") else text


class Line:
    """An inbound ESL connection that places calls and watches the IVR leg's events."""

    def __init__(self, client: InboundClient) -> None:
        self.client = client
        self.events: list[EslEvent] = []

    def executed(self, leg: str, app: str) -> int:
        return sum(
            1
            for e in self.events
            if e.name == "CHANNEL_EXECUTE" and e.unique_id == leg and e.get("Application") == app
        )

    def parked_with_queue(self, leg: str) -> EslEvent | None:
        for e in self.events:
            if e.name == "CHANNEL_PARK" and e.unique_id == leg and e.variable("cc_queue"):
                return e
        return None

    def parked_with_queue_count(self, leg: str) -> int:
        return sum(
            1
            for e in self.events
            if e.name == "CHANNEL_PARK" and e.unique_id == leg and e.variable("cc_queue")
        )

    def hung_up(self, leg: str) -> bool:
        return any(e.name == "CHANNEL_HANGUP" and e.unique_id == leg for e in self.events)

    async def call(self, number: str, caller: str, ivr_port: int) -> Caller:
        """Dial ``number`` from ``caller``; the IVR's socket is at 127.0.0.1:<ivr_port>."""
        variables = f"cc_ivr_socket=127.0.0.1:{ivr_port},origination_caller_id_number={caller}"
        job = await self.client.bgapi(
            f"originate {{{variables}}}loopback/{number}/{CONTEXT} &park()"
        )
        async with asyncio.timeout(20):
            result = await job.result()
        assert result.ok, result.text
        a_leg = result.text.split()[-1]
        reply = await self.client.api(f"uuid_getvar {a_leg} other_loopback_leg_uuid")
        return Caller(self.client, a_leg, reply.text.strip())

    async def collecting(self, caller: Caller, count: int, within: float = 20) -> None:
        """Wait until the IVR has started its ``count``-th digit collection on this call."""
        await eventually(
            lambda: self.executed(caller.b_leg, "play_and_get_digits") >= count, within=within
        )


@pytest.fixture
async def line(switch: Any) -> AsyncIterator[Line]:
    """An inbound connection to the switch under test, with the project's dialplan loaded."""
    if switch.simulator is not None:
        load_project_dialplan(switch.simulator)
    endpoint = switch.endpoint
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    await client.connect()
    watched = Line(client)
    client.on("*", watched.events.append)
    await client.events(
        "plain", "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_HANGUP", "BACKGROUND_JOB"
    )
    try:
        yield watched
    finally:
        await client.close()
