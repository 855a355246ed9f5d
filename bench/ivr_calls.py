"""How many concurrent calls one IVR instance holds, and its CPU and memory per call.

The IVR (runner, flow store on the real PostgreSQL, outbox, CRM client) runs in this process;
the switch with the project's dialplan, the scripted callers and the CRM test server run in a
child process, so the figures are the IVR's alone. The flow is a CRM data dip on the caller's
number, then three menu levels (each caller presses 1, 1, 1) and a queue. Callers are loopback
calls into the ``contact-center`` context (``socket <ivr> async full``, then ``park``); their
digits are ``uuid_send_dtmf`` on the caller's half of the loopback pair.

It runs on the FreeSWITCH simulator, then, when ``CC_TEST_FREESWITCH`` names the fs-test-switch
launcher, on the real FreeSWITCH (overlays ``freeswitch/`` and ``tests/fs-overlay``). Every
figure line carries ``"switch": "simulator"`` or ``"freeswitch"``.

* ``ivr_concurrent_calls_held``: callers all waiting in the first menu at once, each served by
  its own task (asserted: every one of them reached the menu and was queued in the end);
* ``ivr_memory_per_call``: resident memory grown while they wait, per call;
* ``ivr_cpu_per_call``: CPU time this process spent per completed call (3 menus, the dip, the
  flow lookup and two events through the PostgreSQL outbox).

    .tools/bin/uv run --frozen --all-packages python bench/ivr_calls.py [--calls 200]
        [--switches simulator,freeswitch]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from cc_common.bus import connect_bus
from cc_common.db import Database, Outbox, OutboxRelay, migrations
from cc_common.esl import InboundClient, OutboundServer
from cc_common.logging import configure_logging
from cc_common.testing import eventually
from cc_ivr.adapters.crm import CrmClient
from cc_ivr.adapters.db import SCHEMA, kit
from cc_ivr.adapters.store import FlowStore
from cc_ivr.runner import IvrRunner
from cc_sim import SimConfig, Simulator
from cc_sim.core.xml_dialplan import read_dialplan_dir
from cc_sim.switches import RealSwitch, configured_launcher, free_port

DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
ROOT = Path(__file__).resolve().parents[1]
CONTEXT = "contact-center"
MENU = {"type": "menu", "prompt": "menu", "timeout_seconds": 30, "retries": 0}
FLOW: dict[str, Any] = {
    "name": "bench",
    "start": "dip",
    "prompts": {"menu": {"en": "prompts/press_1_sales_2_support.wav"}},
    "nodes": {
        "dip": {
            "type": "crm",
            "vip_priority": 10,
            "timeout_seconds": 5,
            **{f"on_{b}": "level1" for b in ("found", "not_found", "timeout", "error")},
            "on_circuit_open": "level1",
        },
        "level1": {**MENU, "choices": {"1": "level2"}, "on_timeout": "q", "on_invalid": "q"},
        "level2": {**MENU, "choices": {"1": "level3"}, "on_timeout": "q", "on_invalid": "q"},
        "level3": {**MENU, "choices": {"1": "q"}, "on_timeout": "q", "on_invalid": "q"},
        "q": {"type": "queue", "queue": "support", "skills": ["support"]},
    },
}


def report(name: str, value: float, unit: str, switch: str) -> None:
    line = {"bench": name, "value": round(value, 2), "unit": unit, "switch": switch}
    print(json.dumps(line), flush=True)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# --- the child: simulator, callers and CRM ----------------------------------------------------


def crm_app() -> FastAPI:
    app = FastAPI()

    @app.get("/customers/lookup")
    async def lookup(phone: str = "") -> dict[str, Any]:
        return {"customer_id": f"C-{phone}", "vip": phone.endswith("7")}

    return app


@contextlib.asynccontextmanager
async def running_switch(kind: str) -> AsyncIterator[tuple[int, str]]:
    """Yield the ESL port and password of a switch running the project's dialplan."""
    if kind == "simulator":
        async with Simulator(SimConfig(esl_port=0, default_file_seconds=0.5)) as sim:
            contexts, variables = read_dialplan_dir(ROOT / "freeswitch" / "dialplan")
            sim.dialplan.contexts[CONTEXT] = contexts[CONTEXT]
            sim.switch.global_vars.update(variables)
            yield sim.esl_port, "ClueCon"
        return
    launcher = configured_launcher()
    assert launcher is not None
    with tempfile.TemporaryDirectory(prefix="bench-ivr-fs-") as work:
        overlays = [ROOT / "freeswitch", ROOT / "tests" / "fs-overlay"]
        real = RealSwitch(launcher, Path(work), overlays=overlays, log_level="warning")
        endpoint = await asyncio.to_thread(real.start)
        try:
            yield endpoint.esl_port, endpoint.password
        finally:
            await asyncio.to_thread(real.stop)


async def callers(kind: str, ivr_port: int, crm_port: int, calls: int) -> None:
    """Serve the CRM, run the switch; on each 'go' line from stdin, run ``calls`` callers."""
    crm = uvicorn.Server(
        uvicorn.Config(crm_app(), host="127.0.0.1", port=crm_port, log_level="error")
    )
    crm_task = asyncio.create_task(crm.serve())
    async with running_switch(kind) as (esl_port, password):
        client = InboundClient("127.0.0.1", esl_port, password, max_buffered_events=200_000)
        await client.connect()
        executes: dict[str, int] = {}
        parked: set[str] = set()

        def watch(event: Any) -> None:
            if (
                event.name == "CHANNEL_EXECUTE"
                and event.get("Application") == "play_and_get_digits"
            ):
                executes[event.unique_id] = executes.get(event.unique_id, 0) + 1
            if event.name == "CHANNEL_PARK" and event.variable("cc_queue"):
                parked.add(event.unique_id)

        client.on("*", watch)
        await client.events("plain", "CHANNEL_EXECUTE", "CHANNEL_PARK", "BACKGROUND_JOB")
        print("ready", esl_port, flush=True)
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "go":
            executes.clear()
            parked.clear()
            await one_round(client, ivr_port, calls, executes, parked)
            await client.api("hupall NORMAL_CLEARING")
        await client.close()
    crm.should_exit = True
    await crm_task


a_of: dict[str, str] = {}


async def one_round(
    client: InboundClient, ivr_port: int, calls: int, executes: dict[str, int], parked: set[str]
) -> None:
    """Dial every caller, hold them in the first menu, then press 1, 1, 1 for all."""
    loop = asyncio.get_running_loop()
    legs = await asyncio.gather(*(dial(client, ivr_port, n) for n in range(calls)))

    def reached(level: int) -> bool:
        return all(executes.get(b, 0) >= level for b in legs)

    try:
        await eventually(lambda: reached(1), within=120)
    except TimeoutError:
        waiting = sum(executes.get(b, 0) >= 1 for b in legs)
        print(f"{waiting} of {calls} callers reached the first menu", file=sys.stderr)
        raise
    print("holding", flush=True)  # every caller waits in the first menu now
    await loop.run_in_executor(None, sys.stdin.readline)
    for level in (1, 2, 3):
        await eventually(lambda: reached(level), within=120)  # noqa: B023  (awaited at once)
        await asyncio.gather(*(client.api(f"uuid_send_dtmf {a_of[b]} 1") for b in legs))
    await eventually(lambda: all(b in parked for b in legs), within=120)
    print("done", len(parked), flush=True)


async def dial(client: InboundClient, ivr_port: int, number: int) -> str:
    """Place one caller (the IVR's socket named per call); return the IVR's (dialplan) leg."""
    variables = f"cc_ivr_socket=127.0.0.1:{ivr_port},origination_caller_id_number=1555{number:07d}"
    job = await client.bgapi(f"originate {{{variables}}}loopback/8000/{CONTEXT} &park()")
    result = await job.result()
    assert result.ok, result.text
    a_leg = result.text.split()[-1]
    b_leg = (await client.api(f"uuid_getvar {a_leg} other_loopback_leg_uuid")).text.strip()
    a_of[b_leg] = a_leg
    return b_leg


# --- the parent: the IVR under measurement -----------------------------------------------------


async def measure(kind: str, calls: int) -> None:
    name = f"bench_ivr_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        make_url(DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(
        make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False),
        schemas=[SCHEMA],
    )
    try:
        await run_ivr(db, kind, calls)
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run_ivr(db: Database, kind: str, calls: int) -> None:
    await migrations.upgrade(db, "cc_ivr")
    bus = connect_bus(f"memory://bench-{uuid.uuid4().hex[:6]}", service="ivr", exchange="cc.events")
    outbox = Outbox(kit.outbox)
    relay = OutboxRelay(db, bus, outbox)
    relay.start()
    store = FlowStore(db, outbox, "bench")
    info = await store.create(FLOW)
    await store.activate("bench", info.version)
    await store.bind("8000", "bench")
    crm_port = free_port()
    crm = CrmClient(f"http://127.0.0.1:{crm_port}")
    runner = IvrRunner(tenant="bench", store=store, crm=crm, db=db, outbox=outbox, relay=relay)
    server = OutboundServer(runner.handle, "127.0.0.1", 0)
    await server.start()
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "callers", "--switches", kind,
        "--ivr-port", str(server.port),
        "--crm-port", str(crm_port), "--calls", str(calls),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    stdin, stdout = child.stdin, child.stdout

    async def line() -> str:
        return (await stdout.readline()).decode().strip()

    async def say(text: str) -> None:
        stdin.write(f"{text}\n".encode())
        await stdin.drain()

    try:
        assert (await line()).startswith("ready")
        rss_before = rss_bytes()
        cpu_before = time.process_time()
        await say("go")
        assert await line() == "holding"
        held = runner.stats.active
        rss_held = rss_bytes()
        await say("press")
        done = await line()
        cpu = time.process_time() - cpu_before
        assert done == f"done {calls}", done
        assert held == calls, f"held {held} of {calls}"
        report("ivr_concurrent_calls_held", held, "calls", kind)
        report("ivr_memory_per_call", (rss_held - rss_before) / held / 1024, "KiB", kind)
        report("ivr_cpu_per_call", cpu / calls * 1000, "ms", kind)
        await say("stop")
    finally:
        await asyncio.wait_for(child.wait(), timeout=60)
        await server.close()
        await relay.stop()
        await crm.close()
        await bus.close()


def main() -> None:
    configure_logging("ERROR")  # stdout carries only the figures (and the child's protocol)
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", default="ivr", choices=["ivr", "callers"])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--ivr-port", type=int, default=0)
    parser.add_argument("--crm-port", type=int, default=0)
    parser.add_argument("--switches", default="simulator,freeswitch")
    args = parser.parse_args()
    if args.role == "callers":
        asyncio.run(callers(args.switches, args.ivr_port, args.crm_port, args.calls))
        return
    kinds = args.switches.split(",")
    if "freeswitch" in kinds and configured_launcher() is None:
        print("ivr_calls: real FreeSWITCH not run (CC_TEST_FREESWITCH is not set)", file=sys.stderr)
        kinds.remove("freeswitch")
    if len(kinds) == 1:
        asyncio.run(measure(kinds[0], args.calls))
        return
    for kind in kinds:  # a fresh process each, so one's memory does not hide the other's growth
        command = [sys.executable, __file__, "--switches", kind, "--calls", str(args.calls)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
