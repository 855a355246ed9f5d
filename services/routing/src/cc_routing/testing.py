"""Test kit (tests only; needs httpx): routing against a switch, in-process; what it published,
what the switch itself saw on a connection of its own.

Callers are loopback pairs to extension 7200 (``set cc_queue=support``, answer, park); the
half that runs the dialplan (``-b``) is the caller routing queues. Agents are loopback
contacts: 7303 answers at once, 7301 after 1 s, 7302 never.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from fastapi import FastAPI

from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import TEST_SERVICE_TOKEN, api_client, eventually
from cc_proto import Envelope, EventData
from cc_routing.app import create_app
from cc_routing.core import Command
from cc_routing.service import RoutingService
from cc_routing.settings import RoutingSettings


class SwitchEndpoint(Protocol):
    """Where a switch's event socket listens (``cc_sim.switches.SwitchEndpoint`` fits)."""

    @property
    def host(self) -> str: ...
    @property
    def esl_port(self) -> int: ...
    @property
    def password(self) -> str: ...


QUEUE = "support"
AGENT_AT_ONCE = "loopback/7303/default"
AGENT_AFTER_1S = "loopback/7301/default"
AGENT_NEVER = "loopback/7302/default"
WATCHED = (
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "BACKGROUND_JOB",
)


@dataclass
class Routing:
    """One running routing instance: its API client and its service."""

    api: httpx.AsyncClient
    app: FastAPI

    @property
    def service(self) -> RoutingService:
        service: RoutingService = self.app.state.routing
        return service

    def crash(self) -> None:
        """Stop deciding and sending anything at once, as a killed process would: no settle,
        no cancel, no timer, no event or API request acted on."""

        async def dead(*_args: object, **_kwargs: object) -> list[Command]:
            return []

        runtime = self.service.runtime
        runtime._listening = False
        runtime.step = dead  # type: ignore[method-assign]
        self.service.live.clear()


class RoutingProcess:
    """One real ``python -m cc_routing`` process, to be stopped (SIGTERM) or killed (SIGKILL)."""

    def __init__(self, name: str, env: dict[str, str], log: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.env = {**env, "CC_HTTP_PORT": str(port)}
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.last_answer = ""

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cc_routing", env=self.env, stdout=out, stderr=out
            )

    async def ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/readyz")
        except httpx.HTTPError as exc:
            self.last_answer = repr(exc)
            return False
        self.last_answer = response.text
        return response.status_code == 200

    def kill(self, how: signal.Signals = signal.SIGKILL) -> None:
        assert self.process is not None
        os.kill(self.process.pid, how)

    async def exited(self, within: float = 30) -> int:
        """Wait for the process to end; its exit code."""
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), within)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process would not hear SIGTERM
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def wait_ready(routing: RoutingProcess, within: float) -> None:
    """Wait until the process says it is ready (it leads and is in step with the switch)."""
    try:
        async with asyncio.timeout(within):
            while not await routing.ready():  # noqa: ASYNC110  (polled over HTTP)
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{routing.name} not ready: {routing.last_answer}") from None


@asynccontextmanager
async def routing(settings: RoutingSettings) -> AsyncIterator[Routing]:
    """Run one routing instance (lifespan and all) until the block ends."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app, "http://routing") as client:
        await eventually(lambda: app.state.routing.live.is_set(), within=30)
        yield Routing(client, app)


def routing_settings(
    endpoint: SwitchEndpoint, *, tenant: str, pg_url: str, amqp_url: str, exchange: str
) -> RoutingSettings:
    """Settings for a routing instance on this switch, database and exchange."""
    return RoutingSettings(
        tenant=tenant,
        database_url=pg_url,
        amqp_url=amqp_url,
        bus_exchange=exchange,
        esl_host=endpoint.host,
        esl_port=endpoint.esl_port,
        esl_password=endpoint.password,
        routing_lease=False,
        service_token=TEST_SERVICE_TOKEN,
    )


async def configure(
    api: httpx.AsyncClient,
    agents: dict[str, str],
    *,
    ring_timeout: float = 8,
    wrap_up: float = 0,
) -> None:
    """Create queue ``support`` and log in the agents (id -> contact)."""
    queue = {"name": QUEUE, "ring_timeout_seconds": ring_timeout, "wrap_up_seconds": wrap_up}
    reply = await api.put(f"/v1/queues/{QUEUE}", json=queue)
    assert reply.status_code == 200, reply.text
    for agent_id, contact in agents.items():
        agent = {
            "agent_id": agent_id,
            "contact": contact,
            "tiers": {QUEUE: {}},
            "max_no_answer": 0,
            "no_answer_delay_seconds": 1,
        }
        reply = await api.put(f"/v1/agents/{agent_id}", json=agent)
        assert reply.status_code == 200, reply.text
        reply = await api.post(f"/v1/agents/{agent_id}/login", json={})
        assert reply.status_code == 200, reply.text


class EslProxy:
    """A TCP relay between routing and the switch's event socket that the test can cut, to
    drop routing's link to FreeSWITCH as a dead network would."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.refusing = False
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        self._links.discard(link)
        for end in link:
            end.transport.abort()

    def cut(self, *, refuse: bool = True) -> None:
        """Drop every connection (as a dead network would) and refuse new ones if asked."""
        self.refusing = refuse
        for link in list(self._links):
            for end in link:
                end.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.transport.abort()


class Published:
    """Every event routing published, in order, deduplicated by id."""

    def __init__(self) -> None:
        self.events: list[Envelope[EventData]] = []
        self.ids: set[uuid.UUID] = set()
        self.by_call: dict[str, list[str]] = collections.defaultdict(list)

    async def __call__(self, event: Envelope[EventData]) -> None:
        if event.id in self.ids:
            return
        self.ids.add(event.id)
        self.events.append(event)
        if event.call_id is not None and event.type.startswith("call."):
            self.by_call[event.call_id].append(event.type)

    def of(self, kind: str, call_id: str | None = None) -> list[Envelope[EventData]]:
        """Return the events of one type (for one call)."""
        return [
            e for e in self.events if e.type == kind and (call_id is None or e.call_id == call_id)
        ]


@dataclass
class SwitchLog:
    """What the switch reported, on a connection of its own."""

    events: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    callers: list[str] = field(default_factory=list)
    bridges: list[tuple[str, str]] = field(default_factory=list)
    agent_answers: list[str] = field(default_factory=list)
    job_replies: list[str] = field(default_factory=list)
    hung_up: dict[str, float] = field(default_factory=dict)
    parked_at: dict[str, float] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    """Caller (the loopback half that parked in the queue) -> the half the test originated."""
    agent_legs: dict[str, list[tuple[float, float, float, str]]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    """Agent id -> (created, answered or 0, hung up, uuid) of each agent leg routing rang."""

    def __call__(self, event: EslEvent) -> None:
        if event.name == "BACKGROUND_JOB":
            self.job_replies.append(event.body.strip())
            return
        leg = event.unique_id
        if leg is None:
            return
        self.events[leg].append(event.name)
        stamp = event.timestamp
        when = stamp.timestamp() if stamp is not None else 0.0
        role = event.variable("cc_role")
        if event.name == "CHANNEL_PARK" and event.variable("cc_queue") and role is None:
            if leg not in self.parked_at:
                self.callers.append(leg)
                self.parked_at[leg] = when
                self.origin[leg] = event.variable("other_loopback_leg_uuid") or leg
        elif event.name == "CHANNEL_BRIDGE":
            other = event.get("Bridge-B-Unique-ID") or event.get("Other-Leg-Unique-ID") or ""
            self.bridges.append((leg, other))
        elif event.name == "CHANNEL_ANSWER" and role == "agent":
            if event.variable("cc_leg") == leg:
                self.agent_answers.append(leg)
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            self.hung_up.setdefault(leg, when)
            agent = event.variable("cc_offer_agent")
            if role == "agent" and agent and event.variable("cc_leg") == leg:
                created = int(event.get("Caller-Channel-Created-Time") or 0) / 1e6
                answered = int(event.get("Caller-Channel-Answered-Time") or 0) / 1e6
                self.agent_legs[agent].append((created, answered, when, leg))

    def overlapping_legs(self, *, answered: bool, slack: float = 0.0) -> list[tuple[str, str]]:
        """Return (agent, leg) for each leg of an agent that began while another was alive.

        ``answered``: compare the times legs were picked up (talking twice at once) rather than
        created (ringing twice). ``slack`` forgives a leg created that soon before the previous
        one's hangup completed (a cancel and the next ring go out in the same step).
        """
        found = []
        for agent, legs in self.agent_legs.items():
            spans = sorted(
                (answered_at if answered else created, ended, leg)
                for created, answered_at, ended, leg in legs
                if not answered or answered_at > 0
            )
            latest = float("-inf")
            for began, ended, leg in spans:
                if began < latest - slack:
                    found.append((agent, leg))
                latest = max(latest, ended)
        return found

    def bridged_callers(self) -> list[str]:
        """Return every caller the switch bridged, once per bridge."""
        callers = set(self.callers)
        return [a if a in callers else b for a, b in self.bridges if a in callers or b in callers]


@asynccontextmanager
async def watch(endpoint: SwitchEndpoint) -> AsyncIterator[tuple[InboundClient, SwitchLog]]:
    """Yield a client of our own on the switch (for callers) and the log of what it saw."""
    log = SwitchLog()
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    client.on("*", log)
    async with client:
        await client.events("plain", *WATCHED)
        yield client, log


async def call_in(client: InboundClient, number: str = "4930111", **variables: str) -> str:
    """Place a caller (loopback to 7200); return the uuid of the half that originates."""
    leg = str(uuid.uuid4())
    pairs = {"origination_uuid": leg, "origination_caller_id_number": number, **variables}
    text = ",".join(f"{k}={v}" for k, v in pairs.items())
    await client.bgapi(f"originate {{{text}}}loopback/7200/default &park()")
    return leg
