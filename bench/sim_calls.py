"""How many full calls per second the FreeSWITCH simulator sustains, driven over ESL.

Each call is the platform's flow: a customer arrives and parks (loopback/7100), routing rings an
agent (``bgapi originate user/<agent> &park()``, the phone answers), answers the customer
(``uuid_answer``), bridges the two (``uuid_bridge``) and hangs up (``uuid_kill``); the call
counts once every leg is destroyed. Workers run calls back to back on one InboundClient for a
fixed time; the figure is completed calls divided by elapsed seconds.

    .tools/bin/uv run python bench/sim_calls.py [--seconds 10] [--workers 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from functools import partial

from cc_common.esl import EslEvent, InboundClient
from cc_sim import AgentPhone, SimConfig, Simulator

EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "BACKGROUND_JOB",
)


async def one_call(client: InboundClient, worker: int, number: int) -> None:
    """Run one customer-to-agent call from arrival to every leg destroyed."""
    customer_a = f"cust-{worker}-{number}"
    agent = f"agent-{worker}-{number}"
    connection = client.connection
    if connection is None:
        raise RuntimeError("not connected")
    # futures registered before the commands go out, so no event can slip past
    parked = connection.wait_for_event(
        lambda e: e.name == "CHANNEL_PARK" and e.variable("other_loopback_leg_uuid") == customer_a
    )
    gone = [connection.wait_for_event(partial(_destroyed, uuid)) for uuid in (customer_a, agent)]
    arrival = await client.bgapi(
        f"originate {{origination_uuid={customer_a},origination_caller_id_number=5550{worker:03d}}}"
        "loopback/7100/default &park()"
    )
    customer: EslEvent = await parked
    leg = customer.unique_id or ""
    ring = await client.bgapi(f"originate {{origination_uuid={agent}}}user/{1000 + worker} &park()")
    if not (await ring.result()).ok:
        raise RuntimeError(f"agent {1000 + worker} did not answer")
    await client.api(f"uuid_answer {leg}")
    if not (await arrival.result()).ok:
        raise RuntimeError("customer originate failed")
    bridged = await client.api(f"uuid_bridge {leg} {agent}")
    if not bridged.ok:
        raise RuntimeError(f"bridge failed: {bridged.text}")
    await client.api(f"uuid_kill {leg}")
    await asyncio.gather(*gone)


def _destroyed(uuid: str, event: EslEvent) -> bool:
    return event.name == "CHANNEL_DESTROY" and event.unique_id == uuid


async def worker_loop(client: InboundClient, worker: int, deadline: float, done: list[int]) -> None:
    number = 0
    while time.monotonic() < deadline:
        await one_call(client, worker, number)
        number += 1
        done[worker] += 1


async def measure(seconds: float, workers: int) -> float:
    """Return completed calls per second."""
    async with Simulator(SimConfig(esl_port=0, time_compression=1.0)) as sim:
        for worker in range(workers):
            sim.directory.register(
                AgentPhone(str(1000 + worker), answer_delay=(0.005, 0.005), plans=[])
            )
        async with InboundClient(
            "127.0.0.1", sim.esl_port, reconnect=False, request_timeout=60.0
        ) as client:
            await client.events("plain", *EVENTS)
            warm = [0] * workers
            await asyncio.gather(
                *(worker_loop(client, w, time.monotonic() + 1.0, warm) for w in range(workers))
            )
            done = [0] * workers
            started = time.monotonic()
            deadline = started + seconds
            await asyncio.gather(*(worker_loop(client, w, deadline, done) for w in range(workers)))
            elapsed = time.monotonic() - started
            if sim.switch.live_count():
                raise RuntimeError(f"{sim.switch.live_count()} channels left over")
    return sum(done) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    rate = asyncio.run(measure(args.seconds, args.workers))
    print(json.dumps({"bench": "sim_calls_per_second", "value": round(rate, 1), "unit": "calls/s"}))


if __name__ == "__main__":
    main()
