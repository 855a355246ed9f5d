"""Routing throughput against the simulator: sustained new calls per second, and the time from a
caller's CHANNEL_PARK to the originate of its agent leg (p50, p99).

The real routing service (its app, lifespan, PostgreSQL, RabbitMQ, ESL connections) runs in this
process, alone, as in production. The FreeSWITCH simulator runs in a child process with the
callers, the agents' phones and an ESL watcher, as FreeSWITCH runs beside the service. Callers
arrive at a fixed rate, wait as long as it takes and talk 50 ms; agents answer within 10 ms and
are many more than the calls in progress need, so routing is what falls behind first.

Stages of a few seconds each offer one fixed rate. A stage keeps up when the completions match
the offered rate over its steady window (after a warm-up) and the callers still waiting for an
agent leg at its end are fewer than a quarter second of arrivals. Rising by 60 %, then
bisecting, finds roughly the highest rate kept up with; a longer stage a little below it confirms
it (stepping down by 10 % while the queue still grows slowly) and gives the figures. Then one
stage at half that rate, and one at twice it (the queue grows: what does routing still
complete?). The latency comes from FreeSWITCH's own Event-Date-Timestamp: the caller's
CHANNEL_PARK and the CHANNEL_ORIGINATE of the first agent leg whose ``cc_call_id`` is the
caller's uuid.

Figures (stdout, one JSON line each), from the confirming stage: ``routing_calls_per_second``
(completed per second over its steady window), ``routing_calls_per_second_offered`` (its offered
rate), ``routing_park_to_originate_p50`` / ``_p99`` (ms, close to capacity) and
``routing_cpu_per_call`` (ms of the routing process's CPU per completed call); then the latency
at half that rate, with little queueing (``..._p50_half_load`` / ``..._p99_half_load``: the p50
is the steady figure to compare runs by; the p99 mostly shows the routing process's pauses) and
``routing_calls_per_second_overloaded`` (completed per second when offered twice the kept-up
rate). One line per stage goes to stderr. Uses its own database and exchange, both
removed afterwards; every socket is on 127.0.0.1.

When ``CC_TEST_FREESWITCH`` names a real FreeSWITCH launcher, the same service then runs against
a real FreeSWITCH 1.10 started for the bench: callers loop back to extension 7200 at a fixed
rate, 24 agents are ``loopback/7303`` (they answer at once), each caller hangs up 0.2 s after
its bridge. ``routing_real_calls_per_second`` (bridged per second over the steady window),
``routing_real_calls_per_second_offered`` and ``routing_real_park_to_originate_p50`` / ``_p99``
(ms, from FreeSWITCH's own event times) sit beside the simulator's figures.

    .tools/bin/uv run python bench/routing_throughput.py [--budget 54]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import TEST_SERVICE_TOKEN, api_client
from cc_routing.app import create_app
from cc_routing.settings import RoutingSettings
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.engine.endpoints import CallerScript
from cc_sim.simulator import Simulator
from cc_sim.switches import RealSwitch, configured_launcher

AMQP_URL = os.environ.get("CC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SCRIPT = os.path.abspath(__file__)
TENANT = "bench"
QUEUE = "sales"
NUMBER = "8000"
AGENTS = tuple(str(2000 + n) for n in range(300))
ANSWER_DELAY = (0.005, 0.01)
TALK_SECONDS = 0.05

FIRST_RATE = 20.0
STEP_UP = 1.6
CLOSE_ENOUGH = 1.15
"""Bisecting stops once the failing rate is within this factor of the kept-up one."""
MARGIN = 0.92
"""The longer stage starts this far below the rate a short stage kept up with..."""
STEP_DOWN = 0.9
"""... and steps down by this factor while the queue still grows."""
LADDER = (3.0, 1.0)
FINAL = (6.0, 1.0)
HALF = (5.0, 1.0)
SATURATED = (4.0, 1.0)
"""(seconds, warm-up seconds) of a search stage, the kept-up stage, the half-load stage and the
overloaded stage."""
KEEP_UP = 0.95
"""A stage keeps up when it completes at least this share of the offered rate..."""
EDGE_CALLS = 2
"""... give or take the calls in flight at the window's edges..."""
BACKLOG_SECONDS = 0.25
"""... and fewer callers than this many seconds of arrivals wait for an agent leg at its end."""
ABORT_BACKLOG_SECONDS = 1.0
"""A search stage is cut short once a second's worth of arrivals waits: it has failed."""
DRAIN_SECONDS = 6.0
SETTLE_SECONDS = 20.0


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(samples: list[float], share: float) -> float:
    """Return the nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- the simulator's side (child process) ------------------------------------------------------


class Switchboard:
    """Callers at a fixed rate, and what FreeSWITCH says about them (park, agent originate)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.parked: dict[str, float] = {}
        self.originated: dict[str, float] = {}
        self.completed_at: list[float] = []
        self.outcomes: dict[str, int] = {}
        self.sequence = 0

    def now(self) -> float:
        return self.sim.switch.now_us() / 1e6

    def on_event(self, event: EslEvent) -> None:
        """Keep the first caller park and the first agent-leg originate, at FreeSWITCH's time."""
        stamp = int(event.get("Event-Date-Timestamp") or 0) / 1e6
        if event.name == "CHANNEL_ORIGINATE":
            call_id = event.variable("cc_call_id")
            if call_id is not None:
                self.originated.setdefault(call_id, stamp)
        elif event.variable("cc_role") is None and event.variable("cc_queue") is not None:
            self.parked.setdefault(event.unique_id or "", stamp)

    def place(self) -> None:
        """One caller dials the queue's number; they wait as long as it takes, then talk."""
        self.sequence += 1

        def done(cause: str, outcome: str) -> None:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if outcome == "completed":
                self.completed_at.append(self.now())

        script = CallerScript(talk_seconds=TALK_SECONDS, on_done=done)
        self.sim.place_call(
            NUMBER, caller_number=f"555{self.sequence:07d}", script=script, context="default"
        )

    def waiting(self) -> int:
        """Callers in the switch whose agent leg routing has not originated yet."""
        return sum(1 for call_id in self.sim.callers.active if call_id not in self.originated)

    async def stage(self, rate: float, seconds: float, warm: float, abort: int) -> dict[str, Any]:
        """Offer ``rate`` calls/s for ``seconds``; measure over the window after ``warm``."""
        loop = asyncio.get_running_loop()
        cpu, start, sim_start = time.process_time(), loop.time(), self.now()
        placed, aborted, next_check = 0, False, 0.0
        while (elapsed := loop.time() - start) < seconds:
            while placed < int(elapsed * rate) + 1:
                self.place()
                placed += 1
            if elapsed >= next_check:
                next_check += 0.1
                if elapsed > warm and self.waiting() > abort:
                    aborted = True
                    break
            await asyncio.sleep(0.002)
        offered_for = loop.time() - start
        window = (sim_start + warm, self.now())
        waiting = self.waiting()
        completed = sum(1 for t in self.completed_at if window[0] <= t < window[1])
        cpu_share = (time.process_time() - cpu) / offered_for
        cancelled = await self.drain()
        latencies, missing = [], 0
        for call_id, parked in self.parked.items():
            if window[0] <= parked < window[1]:
                if call_id in self.originated:
                    latencies.append((self.originated[call_id] - parked) * 1000)
                else:
                    missing += 1
        return {
            "placed_rate": placed / offered_for,
            "aborted": aborted,
            "window_seconds": window[1] - window[0],
            "completed": completed,
            "waiting_at_end": waiting,
            "cancelled": cancelled,
            "latencies_ms": latencies,
            "missing": missing,
            "sim_cpu": cpu_share,
        }

    async def drain(self) -> int:
        """Let calls in progress finish; after a while hang up whoever still waits (counted)."""
        callers = self.sim.callers
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                while callers.active:  # noqa: ASYNC110  (the switch has no event for this)
                    await asyncio.sleep(0.02)
        left = list(callers.active.values())
        for state in left:
            callers.hang_up(state, "ORIGINATOR_CANCEL")
        async with asyncio.timeout(DRAIN_SECONDS):
            while callers.active:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return len(left)


async def run_switch() -> None:
    """The child: a simulator with agents' phones, run stage by stage as the parent asks."""
    route = (
        "default",
        NUMBER,
        tuple(parse_actions(f"set:cc_queue={QUEUE};set:cc_priority=0;park")),
    )
    async with Simulator(SimConfig(esl_port=0, routes=(route,), seed=7)) as sim:
        for user in AGENTS:
            sim.register_agent(user, answer_delay=ANSWER_DELAY)
        board = Switchboard(sim)
        watcher = InboundClient("127.0.0.1", sim.esl_port, reconnect=False, name="bench-watch")
        watcher.on("CHANNEL_PARK", board.on_event)
        watcher.on("CHANNEL_ORIGINATE", board.on_event)
        async with watcher:
            await watcher.events("plain", "CHANNEL_PARK", "CHANNEL_ORIGINATE")
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            # FreeSWITCH has no garbage collector: keep the stand-in's full collections short,
            # so its pauses do not count against routing.
            gc.freeze()
            _send({"port": sim.esl_port})
            while line := await reader.readline():
                ask = json.loads(line)
                if ask["cmd"] == "stage":
                    args = (ask["rate"], ask["seconds"], ask["warm"], ask["abort"])
                    _send(await board.stage(*args))
                elif ask["cmd"] == "totals":
                    _send({"outcomes": board.outcomes, "placed": board.sequence})
                else:
                    break


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# --- the routing side (this process) -----------------------------------------------------------


class SwitchProcess:
    """The simulator child process, spoken to in JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, message: dict[str, Any], *, within: float = 60.0) -> dict[str, Any]:
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("the simulator process has no stdin")
        stdin.write((json.dumps(message) + "\n").encode())
        await stdin.drain()
        return await self.read(within=within)

    async def read(self, *, within: float) -> dict[str, Any]:
        stdout = self.process.stdout
        if stdout is None:
            raise RuntimeError("the simulator process has no stdout")
        async with asyncio.timeout(within):
            line = await stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process ended (exit {await self.process.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply


@asynccontextmanager
async def switch_process() -> AsyncIterator[SwitchProcess]:
    """Start the simulator in a child process; stop it (and wait for it) afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        SCRIPT,
        "--switch",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield SwitchProcess(process)
    finally:
        if process.returncode is None and process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                process.stdin.write(b'{"cmd": "quit"}\n')
                await process.stdin.drain()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A database of our own on the test server, dropped afterwards."""
    name = f"bench_routing_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(DATABASE_URL).set(drivername="postgresql")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def scratch_exchange() -> AsyncIterator[str]:
    """An exchange name of our own; the exchange and its dead-letter twin are deleted after."""
    name = f"bench-routing-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for exchange in (name, f"{name}.dlx"):
                await channel.exchange_delete(exchange)


@asynccontextmanager
async def routing_service(settings: RoutingSettings) -> AsyncIterator[FastAPI]:
    """Run the routing app through its lifespan until it is live."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(30):
            await app.state.routing.live.wait()
        yield app


async def configure(app: FastAPI) -> None:
    """One queue, and every agent in it, logged in and available, through the HTTP API."""
    async with api_client(app, "http://routing") as client:
        queue = {
            "name": QUEUE,
            "ring_timeout_seconds": 10,
            "wrap_up_seconds": 0,
            "expected_handle_seconds": 1,
        }
        _ok(await client.put(f"/v1/queues/{QUEUE}", json=queue))
        for user in AGENTS:
            agent = {
                "agent_id": f"agent-{user}",
                "contact": f"user/{user}",
                "tiers": {QUEUE: {"level": 1, "position": 1}},
            }
            _ok(await client.put(f"/v1/agents/agent-{user}", json=agent))
            _ok(await client.post(f"/v1/agents/agent-{user}/login", json={}))


def _ok(reply: httpx.Response) -> None:
    if reply.status_code != 200:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: {reply.text}")


@dataclass(slots=True)
class Stage:
    """One offered rate and what routing made of it."""

    rate: float
    raw: dict[str, Any]
    routing_cpu_seconds: float
    fewest_free_agents: int

    @property
    def completed_rate(self) -> float:
        return float(self.raw["completed"]) / float(self.raw["window_seconds"])

    @property
    def latencies_ms(self) -> list[float]:
        samples: list[float] = self.raw["latencies_ms"]
        return samples

    @property
    def kept_up(self) -> bool:
        raw = self.raw
        return (
            not raw["aborted"]
            and raw["placed_rate"] >= KEEP_UP * self.rate
            and raw["completed"] >= KEEP_UP * self.rate * raw["window_seconds"] - EDGE_CALLS
            and raw["waiting_at_end"] <= max(3.0, self.rate * BACKLOG_SECONDS)
            and raw["missing"] <= len(self.latencies_ms) // 100
        )

    def describe(self) -> str:
        raw, lat = self.raw, self.latencies_ms or [math.nan]
        verdict = "keeps up" if self.kept_up else "falls behind"
        return (
            f"offered {self.rate:6.1f}/s placed {raw['placed_rate']:6.1f}/s "
            f"completed {self.completed_rate:6.1f}/s waiting@end {raw['waiting_at_end']:4d} "
            f"park->originate p50 {statistics.median(lat):6.1f} ms "
            f"p99 {percentile(lat, 0.99):7.1f} ms  cpu: routing "
            f"{self.routing_cpu_seconds / raw['window_seconds']:4.0%} sim {raw['sim_cpu']:4.0%}  "
            f"free agents >= {self.fewest_free_agents}"
            f"{'  cut short' if raw['aborted'] else ''}  -> {verdict}"
        )


async def run_stage(
    switch: SwitchProcess, app: FastAPI, rate: float, timing: tuple[float, float], abort: int
) -> Stage:
    """Offer one rate, then wait until routing holds no call and every agent is free again."""
    seconds, warm = timing
    acd = app.state.routing.runtime.acd
    fewest = len(AGENTS)
    cpu = 0.0

    async def watch_agents() -> None:
        nonlocal fewest, cpu
        started = time.monotonic()
        await asyncio.sleep(warm)
        cpu = time.process_time()
        while True:
            fewest = min(fewest, acd.queue_status(QUEUE).offerable)
            await asyncio.sleep(max(0.0, min(0.25, started + seconds - time.monotonic())))
            if time.monotonic() >= started + seconds:
                cpu = time.process_time() - cpu
                return

    watcher = asyncio.create_task(watch_agents())
    ask = {"cmd": "stage", "rate": rate, "seconds": seconds, "warm": warm, "abort": abort}
    try:
        raw = await switch.ask(ask, within=seconds + 2 * DRAIN_SECONDS + 10)
    finally:
        if not watcher.done():
            watcher.cancel()
            cpu = time.process_time() - cpu  # cut short: CPU up to now
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    async with asyncio.timeout(SETTLE_SECONDS):
        while acd.active_calls() or acd.queue_status(QUEUE).offerable < len(AGENTS):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    stage = Stage(rate=rate, raw=raw, routing_cpu_seconds=cpu, fewest_free_agents=fewest)
    note(stage.describe())
    return stage


async def search(switch: SwitchProcess, app: FastAPI, deadline: float) -> Stage:
    """Return the stage at roughly the highest rate routing keeps up with."""
    passed: Stage | None = None
    failed = math.inf
    rate = FIRST_RATE
    while time.monotonic() + LADDER[0] + 1 < deadline:
        stage = await run_stage(switch, app, rate, LADDER, int(rate * ABORT_BACKLOG_SECONDS))
        if stage.kept_up:
            passed = stage
        else:
            failed = rate
        if passed is None:
            break
        if failed == math.inf:
            rate = round(rate * STEP_UP, 1)
        elif failed / passed.rate <= CLOSE_ENOUGH:
            break
        else:
            rate = round(math.sqrt(passed.rate * failed), 1)
    if passed is None:
        why = "did not keep up with" if failed == FIRST_RATE else "had no time (budget) for"
        raise RuntimeError(f"routing {why} {FIRST_RATE} calls/s")
    return passed


async def measure(budget: float) -> None:
    started = time.monotonic()
    async with (
        scratch_database() as database_url,
        scratch_exchange() as exchange,
        switch_process() as switch,
    ):
        port = (await switch.read(within=30))["port"]
        settings = RoutingSettings(
            tenant=TENANT,
            database_url=database_url,
            amqp_url=AMQP_URL,
            bus_exchange=exchange,
            esl_host="127.0.0.1",
            esl_port=port,
            http_host="127.0.0.1",
            service_token=TEST_SERVICE_TOKEN,
        )
        async with routing_service(settings) as app:
            await configure(app)
            note(f"set up in {time.monotonic() - started:.1f} s ({len(AGENTS)} agents)")
            await run_stage(switch, app, FIRST_RATE, (1.0, 0.2), 10_000)  # warm the paths up
            reserve = HALF[0] + SATURATED[0] + 8  # and their drains, and the teardown
            found = await search(switch, app, started + budget - 1.5 * FINAL[0] - reserve)
            final = await confirm(switch, app, found.rate, started + budget - reserve)
            half = await run_stage(switch, app, final.rate / 2, HALF, 10_000)
            overload = await run_stage(switch, app, 2 * final.rate, SATURATED, 10_000)
            totals = await switch.ask({"cmd": "totals"})
        _check(totals, final, half)
    report("routing_calls_per_second", final.completed_rate, "calls/s")
    report("routing_calls_per_second_offered", final.rate, "calls/s")
    report("routing_park_to_originate_p50", statistics.median(final.latencies_ms), "ms")
    report("routing_park_to_originate_p99", percentile(final.latencies_ms, 0.99), "ms")
    per_call = final.routing_cpu_seconds / max(1, final.raw["completed"]) * 1000
    report("routing_cpu_per_call", per_call, "ms")
    report("routing_park_to_originate_p50_half_load", statistics.median(half.latencies_ms), "ms")
    report("routing_park_to_originate_p99_half_load", percentile(half.latencies_ms, 0.99), "ms")
    report("routing_calls_per_second_overloaded", overload.completed_rate, "calls/s")
    note(f"done in {time.monotonic() - started:.1f} s; callers: {totals}")


async def confirm(switch: SwitchProcess, app: FastAPI, found: float, deadline: float) -> Stage:
    """Hold a rate a little below the found one for longer (slow queue growth shows there)."""
    rate = round(found * MARGIN, 1)
    while True:
        stage = await run_stage(switch, app, rate, FINAL, int(rate * ABORT_BACKLOG_SECONDS))
        if stage.kept_up or time.monotonic() + FINAL[0] + 2 > deadline:
            return stage
        rate = round(rate * STEP_DOWN, 1)


def _check(totals: dict[str, Any], final: Stage, half: Stage) -> None:
    """Every caller ended, none in a way the bench did not cause; the figures are measured."""
    outcomes: dict[str, int] = totals["outcomes"]
    if sum(outcomes.values()) != totals["placed"]:
        raise RuntimeError(f"callers unaccounted for: {totals}")
    if outcomes.get("abandoned", 0):
        raise RuntimeError(f"callers abandoned though they had no patience limit: {totals}")
    for stage in (final, half):
        if not stage.latencies_ms or stage.raw["missing"]:
            raise RuntimeError(f"callers offered {stage.rate}/s never reached an agent leg")
    if not final.kept_up:
        note("note: out of time before a longer stage kept up; its figures are near capacity")


# --- the real FreeSWITCH (when CC_TEST_FREESWITCH names one) ----------------------------------

REAL_QUEUE = "support"
"""Extension 7200 of the real test build parks its callers for this queue."""
REAL_AGENTS = 24
REAL_RATE = 5.0
REAL_STAGE = (8.0, 2.0)
"""(seconds, warm-up seconds) of the one stage at ``REAL_RATE`` calls per second."""
REAL_TALK = 0.2


class RealSwitchboard:
    """Callers (loopback to 7200) at a fixed rate, hung up after a short talk once bridged."""

    def __init__(self, client: InboundClient) -> None:
        self.client = client
        self.parked: dict[str, float] = {}
        self.origin: dict[str, str] = {}
        self.originated: dict[str, float] = {}
        self.bridged_at: dict[str, float] = {}
        self.placed: list[str] = []
        self.gone: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()

    def on_event(self, event: EslEvent) -> None:
        """FreeSWITCH's own times: a caller's park, its first agent leg, its bridge."""
        stamp = int(event.get("Event-Date-Timestamp") or 0) / 1e6
        leg = event.unique_id or ""
        if event.name == "CHANNEL_ORIGINATE":
            call_id = event.variable("cc_call_id")
            if call_id is not None:
                self.originated.setdefault(call_id, stamp)
        elif event.name == "CHANNEL_PARK":
            if event.variable("cc_role") is None and event.variable("cc_queue") is not None:
                self.parked.setdefault(leg, stamp)
                self.origin[leg] = event.variable("other_loopback_leg_uuid") or leg
        elif event.name == "CHANNEL_BRIDGE":
            for side in ("Bridge-A-Unique-ID", "Bridge-B-Unique-ID"):
                caller = event.get(side) or ""
                if caller in self.parked and caller not in self.bridged_at:
                    self.bridged_at[caller] = time.monotonic()
                    task = asyncio.create_task(self.hang_up_later(self.origin[caller]))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
        elif event.name == "CHANNEL_HANGUP_COMPLETE":
            self.gone.add(leg)

    async def hang_up_later(self, leg: str) -> None:
        await asyncio.sleep(REAL_TALK)
        await self.client.bgapi(f"uuid_kill {leg}")

    async def place(self) -> None:
        leg = str(uuid.uuid4())
        self.placed.append(leg)
        await self.client.bgapi(
            f"originate {{origination_uuid={leg}}}loopback/7200/default &park()"
        )


async def measure_real(launcher: Path) -> None:
    """Throughput and park-to-originate latency of routing on the real FreeSWITCH."""
    with tempfile.TemporaryDirectory(prefix="bench-freeswitch-") as work:
        real = RealSwitch(launcher, Path(work))
        endpoint = await asyncio.to_thread(real.start)
        try:
            async with scratch_database() as database_url, scratch_exchange() as exchange:
                settings = RoutingSettings(
                    tenant=TENANT,
                    database_url=database_url,
                    amqp_url=AMQP_URL,
                    bus_exchange=exchange,
                    esl_host=endpoint.host,
                    esl_port=endpoint.esl_port,
                    esl_password=endpoint.password,
                    http_host="127.0.0.1",
                    service_token=TEST_SERVICE_TOKEN,
                )
                async with routing_service(settings) as app:
                    await configure_real(app)
                    completed, latencies = await real_stage(endpoint)
        finally:
            await asyncio.to_thread(real.stop)
    seconds, warm = REAL_STAGE
    report("routing_real_calls_per_second", completed / (seconds - warm), "calls/s")
    report("routing_real_calls_per_second_offered", REAL_RATE, "calls/s")
    report("routing_real_park_to_originate_p50", statistics.median(latencies), "ms")
    report("routing_real_park_to_originate_p99", percentile(latencies, 0.99), "ms")


async def configure_real(app: FastAPI) -> None:
    """Queue ``support`` and agents reached as loopback/7303 (they answer at once)."""
    async with api_client(app, "http://routing") as client:
        queue = {"name": REAL_QUEUE, "ring_timeout_seconds": 10, "wrap_up_seconds": 0}
        _ok(await client.put(f"/v1/queues/{REAL_QUEUE}", json=queue))
        for n in range(REAL_AGENTS):
            agent = {
                "agent_id": f"real-{n}",
                "contact": "loopback/7303/default",
                "tiers": {REAL_QUEUE: {}},
            }
            _ok(await client.put(f"/v1/agents/real-{n}", json=agent))
            _ok(await client.post(f"/v1/agents/real-{n}/login", json={}))


async def real_stage(endpoint: Any) -> tuple[int, list[float]]:
    """Offer ``REAL_RATE`` calls/s; return the bridges of the steady window and its latencies."""
    client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
    board = RealSwitchboard(client)
    client.on("*", board.on_event)
    seconds, warm = REAL_STAGE
    async with client:
        await client.events(
            "plain",
            "CHANNEL_PARK",
            "CHANNEL_ORIGINATE",
            "CHANNEL_BRIDGE",
            "CHANNEL_HANGUP_COMPLETE",
        )
        start = time.monotonic()
        window = (start + warm, start + seconds)
        count = 0
        while time.monotonic() < window[1]:
            await board.place()
            count += 1
            await asyncio.sleep(max(0.0, start + count / REAL_RATE - time.monotonic()))
        steady_callers = len(board.parked)
        async with asyncio.timeout(30):
            while board.tasks or not board.gone >= set(board.parked):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    completed = sum(1 for at in board.bridged_at.values() if window[0] <= at < window[1])
    latencies = [
        (board.originated[call] - parked) * 1000
        for call, parked in board.parked.items()
        if call in board.originated
    ]
    if not latencies or len(board.bridged_at) < steady_callers:
        raise RuntimeError(f"real switch: {len(board.bridged_at)} of {steady_callers} bridged")
    return completed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=54.0, help="seconds to aim for")
    parser.add_argument("--switch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.switch:
        asyncio.run(run_switch())
        return
    launcher = configured_launcher()
    try:
        asyncio.run(measure(args.budget))
    finally:  # the real switch's figures are worth having even when the simulator's failed
        if launcher is not None:
            asyncio.run(measure_real(launcher))


if __name__ == "__main__":
    main()
