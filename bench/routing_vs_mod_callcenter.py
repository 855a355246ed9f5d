"""Routing next to FreeSWITCH's own mod_callcenter, on the same real FreeSWITCH.

One queue ``support`` and N agents (default 600) in both systems; callers arrive at a fixed rate
R for D seconds, each hung up 3 s after its first CHANNEL_BRIDGE. At each rate routing goes
first, then mod_callcenter, on the same switch (every channel hung up and gone in between).

* routing runs as it does in production, a ``python -m cc_routing`` child process on its own
  fresh PostgreSQL database and RabbitMQ exchange, configured through its HTTP API; its agents
  are ``loopback/7303/default`` (answers at once); its callers ``loopback/7200/default`` (sets
  ``cc_queue=support``, answers, parks). Queue entry: the caller's CHANNEL_PARK with cc_queue.
* mod_callcenter (``bench/fs-overlay``): queue ``support@default``, longest-idle-agent, agents
  ``loopback/7305/default`` (bridges on to 7303) with ring timeout 10 s, wrap-up 0, tier level 1;
  callers ``loopback/7210/default`` (answers, runs ``callcenter support@default``). Queue
  entry: the caller's CHANNEL_EXECUTE of ``callcenter``.

A rate is kept up with when at least 99 % of the callers are bridged (5 s after the last one
arrived), the p99 from queue entry to bridge is at most 2 s, and at most max(5, R/2) callers
still wait when the arrivals stop. Rates are stepped up until neither system keeps up or the
time budget is spent. Every time comes from FreeSWITCH's Event-Date-Timestamp, seen on an ESL
connection used only for measuring; originates and hang-ups go out with ``bgapi`` on another.
CPU per bridged call comes from /proc/<pid>/stat (utime+stime) of routing's process, of the
switch, and of the PostgreSQL backends serving routing's database.

Figures (stdout, one JSON line each), per system (``routing``, ``mod_callcenter``) and rate:
``<system>_keeps_up_at_<R>cps`` (0/1), ``..._queue_to_bridge_p50/p99_at_<R>cps`` (ms),
routing's ``..._queue_to_originate_p50/p99_at_<R>cps`` (ms), ``..._cpu_per_call_<part>_at_<R>cps``
(ms; part ``routing``, ``switch``, ``postgres``, ``total``), ``..._bridged_share_at_<R>cps``,
``..._callers_placed_at_<R>cps`` (below R x D when the bench could not keep pace),
``..._originator_cancel_at_<R>cps``, ``..._double_bridges_at_<R>cps`` and
``..._agents_unavailable_after_at_<R>cps`` (counts; such agents are put back before the next
stage). One line per stage goes to stderr. Runs only when ``CC_TEST_FREESWITCH`` names the
fs-test-switch launcher.

    .tools/bin/uv run python bench/routing_vs_mod_callcenter.py [--quick]
        [--rates 5,10,15,20,30,60,100] [--duration 20] [--agents 600] [--budget 900]
        [--systems routing,mod_callcenter] [--keep-going] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from routing_throughput import (
    AMQP_URL,
    DATABASE_URL,
    _ok,
    note,
    percentile,
    report,
    scratch_database,
    scratch_exchange,
)
from sqlalchemy.engine import make_url

from cc_common.esl import EslEvent, InboundClient
from cc_sim.switches import RealSwitch, SwitchEndpoint, free_port

OVERLAY = Path(__file__).resolve().parent / "fs-overlay"
QUEUE = "support"
CC_QUEUE = "support@default"
ROUTING_AGENT = "loopback/7303/default"
CC_AGENT = "[leg_timeout=10,loopback_bowout=false]loopback/7305/default"
CALLER = {"routing": "loopback/7200/default", "mod_callcenter": "loopback/7210/default"}
TALK_SECONDS = 3.0
RING_TIMEOUT = 10
GRACE_SECONDS = 5.0
"""After the last arrival, how long callers may still be bridged and count as bridged."""
BRIDGED_SHARE = 0.99
P99_LIMIT_MS = 2000.0
SETTLE_SECONDS = 30.0
"""How long the switch may take to drop every channel after ``hupall``."""
IDLE_SECONDS = 120.0
"""How long a system may take to have every agent free again before the next stage."""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return the process's user+system CPU so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def stamp(event: EslEvent) -> float:
    """FreeSWITCH's own time of the event, in seconds."""
    return int(event.get("Event-Date-Timestamp") or 0) / 1e6


@dataclass(slots=True)
class Tally:
    """What the switch said about one stage's callers."""

    system: str
    tag: str
    queued: dict[str, float] = field(default_factory=dict)
    originated: dict[str, float] = field(default_factory=dict)
    bridged: dict[str, float] = field(default_factory=dict)
    bridges: Counter[str] = field(default_factory=Counter)
    ended: set[str] = field(default_factory=set)
    cancels: int = 0
    cancelled_legs: Counter[str] = field(default_factory=Counter)
    """ORIGINATOR_CANCEL hang-ups by leg: caller, agent (routing's cc_role), other."""
    failed_originates: int = 0
    counting: bool = True
    """Anomalies count until the bench hangs up what is left itself."""

    def waiting(self) -> int:
        """Callers in the queue now, not yet bridged."""
        return sum(1 for uid in self.queued if uid not in self.bridged and uid not in self.ended)


class Board:
    """The measuring connection's view: queue entries, agent originates, bridges, hang-ups."""

    def __init__(self, hang_up: Callable[[str], None]) -> None:
        self.tally: Tally | None = None
        self.hang_up = hang_up

    def on_event(self, event: EslEvent) -> None:
        tally = self.tally
        if tally is None:
            return
        name, uid = event.name, event.unique_id or ""
        if name == "CHANNEL_HANGUP_COMPLETE":
            if event.get("Hangup-Cause") == "ORIGINATOR_CANCEL" and tally.counting:
                tally.cancels += 1
                tally.cancelled_legs[_leg(event, tally)] += 1
            if uid in tally.queued:
                tally.ended.add(uid)
        elif name == "CHANNEL_BRIDGE":
            for side in ("Bridge-A-Unique-ID", "Bridge-B-Unique-ID"):
                caller = event.get(side) or ""
                if caller in tally.queued:
                    tally.bridges[caller] += 1
                    if caller not in tally.bridged:
                        tally.bridged[caller] = stamp(event)
                        loop = asyncio.get_running_loop()
                        loop.call_later(TALK_SECONDS, self.hang_up, caller)
        elif name == "CHANNEL_ORIGINATE":
            call_id = event.variable("cc_call_id")
            if call_id in tally.queued:
                tally.originated.setdefault(call_id, stamp(event))
        elif (event.variable("bench_call") or "").startswith(tally.tag):
            if tally.system == "routing":
                entered = name == "CHANNEL_PARK" and event.variable("cc_queue") == QUEUE
                entered = entered and event.variable("cc_role") is None
            else:
                entered = name == "CHANNEL_EXECUTE" and event.get("Application") == "callcenter"
            if entered:
                tally.queued.setdefault(uid, stamp(event))


def _leg(event: EslEvent, tally: Tally) -> str:
    if (event.variable("bench_call") or "").startswith(tally.tag):
        return "caller"
    return event.variable("cc_role") or "other"


@dataclass(slots=True)
class Stage:
    """One system at one rate: the tally and the CPU it took."""

    rate: float
    placed: int
    waiting_at_end: int
    bridged_in_time: int
    tally: Tally
    cpu: dict[str, float]
    unavailable_after: int
    """Agents the system left unable to take calls after the stage (put back by the bench)."""

    def latencies(self, towards: dict[str, float]) -> list[float]:
        queued = self.tally.queued
        return [(towards[uid] - queued[uid]) * 1000 for uid in towards if uid in queued]

    @property
    def bridged_share(self) -> float:
        return self.bridged_in_time / max(1, self.placed)

    @property
    def kept_up(self) -> bool:
        bridge = self.latencies(self.tally.bridged)
        return (
            self.bridged_share >= BRIDGED_SHARE
            and bool(bridge)
            and percentile(bridge, 0.99) <= P99_LIMIT_MS
            and self.waiting_at_end <= max(5.0, self.rate / 2)
        )

    @property
    def double_bridges(self) -> int:
        return sum(1 for count in self.tally.bridges.values() if count > 1)

    def describe(self) -> str:
        bridge = self.latencies(self.tally.bridged) or [float("nan")]
        calls = max(1, self.bridged_in_time)
        cpu = " ".join(f"{k} {v / calls * 1000:.1f}" for k, v in self.cpu.items())
        return (
            f"{self.tally.system:14s} {self.rate:5.1f}/s placed {self.placed:5d} "
            f"queued {len(self.tally.queued):5d} bridged {self.bridged_share:6.1%} "
            f"waiting@end {self.waiting_at_end:4d} queue->bridge p50 "
            f"{statistics.median(bridge):7.1f} ms p99 {percentile(bridge, 0.99):7.1f} ms "
            f"cancels {self.tally.cancels} {dict(self.tally.cancelled_legs)} "
            f"double {self.double_bridges} "
            f"failed originates {self.tally.failed_originates} cpu ms/call: {cpu} "
            f"agents left unavailable {self.unavailable_after} "
            f"-> {'keeps up' if self.kept_up else 'falls behind'}"
        )

    def report(self) -> None:
        prefix, at = self.tally.system, f"_at_{self.rate:g}cps"
        report(f"{prefix}_keeps_up{at}", int(self.kept_up), "bool")
        report(f"{prefix}_bridged_share{at}", self.bridged_share * 100, "%")
        # fewer than R x D when the bench itself could not place callers fast enough
        report(f"{prefix}_callers_placed{at}", self.placed, "calls")
        series = [("queue_to_bridge", self.tally.bridged)]
        if prefix == "routing":
            series.append(("queue_to_originate", self.tally.originated))
        for what, towards in series:
            samples = self.latencies(towards)
            if samples:
                report(f"{prefix}_{what}_p50{at}", statistics.median(samples), "ms")
                report(f"{prefix}_{what}_p99{at}", percentile(samples, 0.99), "ms")
        calls = max(1, self.bridged_in_time)
        for part, seconds in self.cpu.items():
            report(f"{prefix}_cpu_per_call_{part}{at}", seconds / calls * 1000, "ms")
        report(f"{prefix}_originator_cancel{at}", self.tally.cancels, "channels")
        report(f"{prefix}_double_bridges{at}", self.double_bridges, "calls")
        report(f"{prefix}_agents_unavailable_after{at}", self.unavailable_after, "agents")


class Bench:
    """The switch, both systems on it, and the two ESL connections of the bench."""

    def __init__(self, endpoint: SwitchEndpoint, args: argparse.Namespace) -> None:
        self.endpoint = endpoint
        self.args = args
        self.command = InboundClient(
            endpoint.host, endpoint.esl_port, endpoint.password, reconnect=False, name="bench-cmd"
        )
        self.measure = InboundClient(
            endpoint.host,
            endpoint.esl_port,
            endpoint.password,
            reconnect=False,
            max_buffered_events=200_000,
            name="bench-measure",
        )
        self.board = Board(self.hang_up)
        self.jobs: set[asyncio.Task[None]] = set()
        if endpoint.work_dir is None:
            raise RuntimeError("the switch has no work dir")
        self.switch_pid = int((endpoint.work_dir / "freeswitch.pid").read_text().split()[0])

    def hang_up(self, uid: str) -> None:
        self.spawn(self._bgapi(f"uuid_kill {uid} NORMAL_CLEARING", None))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)

    async def _bgapi(self, command: str, tally: Tally | None) -> None:
        job = await self.command.bgapi(command)
        result = await job.result()
        if not result.ok and tally is not None and tally.counting:
            tally.failed_originates += 1
            if "ORIGINATOR_CANCEL" in result.text:
                tally.cancels += 1

    async def api(self, command: str) -> str:
        return (await self.command.api(command)).text

    async def channel_count(self) -> int:
        for line in (await self.api("show channels count")).splitlines():
            if line.strip().endswith("total."):
                return int(line.split()[0])
        return 0

    async def start(self) -> None:
        await self.command.connect()
        await self.command.events("plain", "BACKGROUND_JOB")
        await self.measure.connect()
        names = (
            "CHANNEL_PARK",
            "CHANNEL_EXECUTE",
            "CHANNEL_ORIGINATE",
            "CHANNEL_BRIDGE",
            "CHANNEL_HANGUP_COMPLETE",
        )
        for name in names:
            self.measure.on(name, self.board.on_event)
        await self.measure.events("plain", *names)

    async def close(self) -> None:
        await self.measure.close()
        await self.command.close()

    async def configure_callcenter(self) -> None:
        """mod_callcenter's agents, available, tier level 1 in the queue."""
        for n in range(self.args.agents):
            agent = f"agent-{n}"
            for command in (
                f"agent add {agent} callback",
                f"agent set contact {agent} {CC_AGENT}",
                f"agent set wrap_up_time {agent} 0",
                f"agent set max_no_answer {agent} 0",
                f"tier add {CC_QUEUE} {agent} 1 1",
                f"agent set status {agent} Available",
            ):
                reply = await self.api(f"callcenter_config {command}")
                if "-ERR" in reply:
                    raise RuntimeError(f"callcenter_config {command}: {reply.strip()}")

    async def idle_callcenter_agents(self) -> int:
        """mod_callcenter's agents that are Available and Waiting for a call."""
        rows = [
            line.split("|") for line in (await self.api("callcenter_config agent list")).split("\n")
        ]
        header = rows[0]
        if "status" not in header or "state" not in header:
            raise RuntimeError(f"callcenter_config agent list: {rows[:2]}")
        status, state = header.index("status"), header.index("state")
        return sum(
            1
            for row in rows[1:]
            if len(row) > state and row[status] == "Available" and row[state] == "Waiting"
        )

    async def settle_callcenter(self) -> int:
        """Wait until every mod_callcenter agent waits for a call again; put back (and count)
        those that do not within a while."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_SECONDS):
                while await self.idle_callcenter_agents() < self.args.agents:  # noqa: ASYNC110
                    await asyncio.sleep(0.5)
                return 0
        unavailable = int(self.args.agents) - await self.idle_callcenter_agents()
        note(f"mod_callcenter: {unavailable} agents not waiting for a call after the stage")
        for n in range(self.args.agents):
            await self.api(f"callcenter_config agent set status agent-{n} Available")
            await self.api(f"callcenter_config agent set state agent-{n} Waiting")
        return unavailable

    async def stage(
        self, system: str, rate: float, cpu_pids: dict[str, list[int]], routing: Routing | None
    ) -> Stage:
        """Offer ``rate`` callers/s to one system for the set duration, then clear the switch."""
        tally = Tally(system, f"{system[0]}{rate:g}-{secrets.token_hex(3)}-")
        self.board.tally = tally
        loop = asyncio.get_running_loop()
        pids = {part: list(found) for part, found in cpu_pids.items()}
        if routing is not None:
            pids["postgres"] = await routing.backends()
        cpu0 = {part: sum(cpu_seconds(pid) for pid in found) for part, found in pids.items()}
        start, placed = loop.time(), 0
        while (elapsed := loop.time() - start) < self.args.duration:
            while placed < int(elapsed * rate) + 1:
                call = f"{{bench_call={tally.tag}{placed}}}{CALLER[system]} &park()"
                self.spawn(self._bgapi(f"originate {call}", tally))
                placed += 1
            await asyncio.sleep(0.005)
        waiting = tally.waiting()
        await asyncio.sleep(GRACE_SECONDS)
        bridged = len(tally.bridged)
        cpu = {
            part: sum(cpu_seconds(pid) for pid in found) - cpu0[part]
            for part, found in pids.items()
        }
        cpu["total"] = sum(cpu.values())
        await self.clear(tally)
        if routing is not None:
            unavailable = await routing.settle(self.args.agents)
        else:
            unavailable = await self.settle_callcenter()
        return Stage(rate, placed, waiting, bridged, tally, cpu, unavailable)

    async def clear(self, tally: Tally) -> None:
        """Let bridged callers finish talking, hang up whoever is left, wait for 0 channels."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TALK_SECONDS + 2):
                while len(tally.ended) < len(tally.queued):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        tally.counting = False
        await self.api("hupall NORMAL_CLEARING")
        async with asyncio.timeout(SETTLE_SECONDS):
            while await self.channel_count():  # noqa: ASYNC110  (polling the switch)
                await asyncio.sleep(0.2)
        self.board.tally = None
        for task in list(self.jobs):
            task.cancel()


class Routing:
    """The routing service as a child process, and its HTTP API."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str, token: str) -> None:
        self.process = process
        self.client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.database = ""
        self.admin: asyncpg.Connection | None = None

    async def configure(self, agents: int) -> None:
        """One queue and every agent in it, logged in and available."""
        queue = {
            "name": QUEUE,
            "ring_timeout_seconds": RING_TIMEOUT,
            "wrap_up_seconds": 0,
            "expected_handle_seconds": TALK_SECONDS,
        }
        _ok(await self.client.put(f"/v1/queues/{QUEUE}", json=queue))
        limit = asyncio.Semaphore(4)

        async def add(n: int) -> None:
            agent = {
                "agent_id": f"agent-{n}",
                "contact": ROUTING_AGENT,
                "tiers": {QUEUE: {"level": 1, "position": 1}},
            }
            async with limit:
                _ok(await self.client.put(f"/v1/agents/agent-{n}", json=agent))
                _ok(await self.client.post(f"/v1/agents/agent-{n}/login", json={}))

        await asyncio.gather(*(add(n) for n in range(agents)))

    async def status(self) -> dict[str, Any]:
        reply = await self.client.get(f"/v1/queues/{QUEUE}")
        _ok(reply)
        status: dict[str, Any] = reply.json()
        return status

    async def offerable(self) -> int:
        return int((await self.status())["offerable"])

    async def settle(self, agents: int) -> int:
        """Wait until routing holds no call; make available again (and count) agents it left
        unavailable, e.g. not ready after failed offers."""
        busy_states = ("reserved", "on_call", "wrap_up")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE_SECONDS):
                while True:
                    status = await self.status()
                    by_state = status["agents_by_state"]
                    if not status["calls"] and not sum(by_state.get(s, 0) for s in busy_states):
                        break
                    await asyncio.sleep(0.25)
        status = await self.status()
        unavailable = agents - int(status["offerable"])
        if unavailable:
            note(f"routing: agents not free after the stage: {status['agents_by_state']}")
            for n in range(agents):
                reply = await self.client.get(f"/v1/agents/agent-{n}")
                _ok(reply)
                if reply.json()["state"] != "available":
                    back = {"state": "available"}
                    _ok(await self.client.post(f"/v1/agents/agent-{n}/state", json=back))
        return unavailable

    async def backends(self) -> list[int]:
        """PostgreSQL backend processes serving routing's database."""
        if self.admin is None:
            return []
        rows = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
        )
        return [int(row["pid"]) for row in rows]


@asynccontextmanager
async def routing_process(
    endpoint: SwitchEndpoint, database_url: str, exchange: str, log: Path
) -> AsyncIterator[Routing]:
    """Start ``python -m cc_routing`` against the switch; stop it afterwards."""
    port, token = free_port(), secrets.token_urlsafe(16)
    env = dict(os.environ)
    env.update(
        CC_TENANT="bench",
        CC_ESL_HOST=endpoint.host,
        CC_ESL_PORT=str(endpoint.esl_port),
        CC_ESL_PASSWORD=endpoint.password,
        CC_DATABASE_URL=database_url,
        CC_AMQP_URL=AMQP_URL,
        CC_BUS_EXCHANGE=exchange,
        CC_HTTP_HOST="127.0.0.1",
        CC_HTTP_PORT=str(port),
        CC_SERVICE_TOKEN=token,
        CC_ROUTING_LEASE="true",
        CC_LOG_LEVEL="WARNING",
    )
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cc_routing", env=env, stdout=output, stderr=output
        )
    routing = Routing(process, f"http://127.0.0.1:{port}", token)
    routing.database = make_url(database_url).database or ""
    admin_dsn = make_url(DATABASE_URL).set(drivername="postgresql")
    routing.admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    try:
        await _ready(routing, log)
        yield routing
    finally:
        await routing.client.aclose()
        await routing.admin.close()
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def _ready(routing: Routing, log: Path) -> None:
    """Wait for /readyz (the ESL connection, database and bus are up)."""
    async with asyncio.timeout(90):
        while True:
            if routing.process.returncode is not None:
                text = await asyncio.to_thread(log.read_text)
                raise RuntimeError(f"routing exited:\n{text[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await routing.client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)


async def run(args: argparse.Namespace, launcher: Path) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-vs-callcenter-") as scratch:
        work = Path(args.work_dir or scratch)
        switch = RealSwitch(launcher, work / "fs", overlays=[OVERLAY], log_level="warning")
        endpoint = await asyncio.to_thread(switch.start)
        try:
            async with scratch_database() as database_url, scratch_exchange() as exchange:
                await compare(args, endpoint, database_url, exchange, work, started)
        finally:
            await asyncio.to_thread(switch.stop)


async def compare(
    args: argparse.Namespace,
    endpoint: SwitchEndpoint,
    database_url: str,
    exchange: str,
    work: Path,
    started: float,
) -> None:
    bench = Bench(endpoint, args)
    await bench.start()
    try:
        log = work / "routing.log"
        async with routing_process(endpoint, database_url, exchange, log) as routing:
            await routing.configure(args.agents)
            if "mod_callcenter" in args.systems:
                await bench.configure_callcenter()
                await bench.settle_callcenter()
            await routing.settle(args.agents)
            note(f"set up in {time.monotonic() - started:.1f} s ({args.agents} agents each)")
            assert routing.process.pid is not None
            for rate in args.rates:
                if time.monotonic() - started > args.budget:
                    note(f"time budget spent before {rate:g} calls/s")
                    break
                kept = 0
                for system in args.systems:
                    pids = {"switch": [bench.switch_pid]}
                    if system == "routing":
                        pids["routing"] = [routing.process.pid]
                    stage = await bench.stage(
                        system, rate, pids, routing if system == "routing" else None
                    )
                    note(stage.describe())
                    stage.report()
                    kept += stage.kept_up
                if not kept and not args.keep_going:
                    note(f"neither system keeps up with {rate:g} calls/s: stopping")
                    break
    finally:
        await bench.close()
    note(f"done in {time.monotonic() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="5,10,15,20,30,60,100", help="calls/s, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of arrivals a rate")
    parser.add_argument("--agents", type=int, default=600, help="agents in each system")
    parser.add_argument("--budget", type=float, default=900.0, help="no new rate after this (s)")
    parser.add_argument("--work-dir", help="keep the switch's and routing's files here")
    parser.add_argument("--quick", action="store_true", help="100 agents, 5 and 10 calls/s, 15 s")
    parser.add_argument(
        "--keep-going", action="store_true", help="run every rate even when neither keeps up"
    )
    parser.add_argument(
        "--systems",
        default="routing,mod_callcenter",
        help="which systems to run, comma-separated (routing alone for A/B runs of a change)",
    )
    args = parser.parse_args()
    if args.quick:
        args.agents, args.rates, args.duration = 100, "5,10", 15.0
    args.rates = [float(rate) for rate in args.rates.split(",")]
    wanted = args.systems.split(",")
    args.systems = [name for name in ("routing", "mod_callcenter") if name in wanted]
    launcher = os.environ.get("CC_TEST_FREESWITCH")
    if not launcher:
        print("routing_vs_mod_callcenter: not run (CC_TEST_FREESWITCH is not set)", file=sys.stderr)
        return
    asyncio.run(run(args, Path(launcher)))


if __name__ == "__main__":
    main()
