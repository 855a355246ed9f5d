"""Bus throughput on the real RabbitMQ: publish with confirms, and consume with acks.

Prints one JSON line per figure. Uses its own exchange and queue, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

from _rabbit import remove_bus

from cc_common.bus._rabbit import RabbitBus
from cc_proto import Envelope, EventData, make_event
from cc_proto.events import CallOffered

AMQP_URL = os.environ.get("CC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SEQUENTIAL = 2_000
PIPELINED = 20_000
IN_FLIGHT = 64


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 1), "unit": unit}), flush=True)


async def publish_pipelined(bus: RabbitBus, count: int) -> float:
    events = [make_event(CallOffered(queue="sales"), tenant="bench") for _ in range(count)]
    started = time.perf_counter()
    for offset in range(0, count, IN_FLIGHT):
        await asyncio.gather(*(bus.publish(e) for e in events[offset : offset + IN_FLIGHT]))
    return count / (time.perf_counter() - started)


async def main() -> None:
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"bench-{tag}", f"bench-{tag}-q"
    bus = await RabbitBus(AMQP_URL, service="bench", exchange=exchange, prefetch=256).connect()
    try:
        await bus.declare(queue, bindings=["bench.#"])
        started = time.perf_counter()
        for _ in range(SEQUENTIAL):
            await bus.publish(make_event(CallOffered(queue="sales"), tenant="bench"))
        report(
            "bus_publish_confirmed_sequential",
            SEQUENTIAL / (time.perf_counter() - started),
            "msgs/s",
        )
        report("bus_publish_confirmed_pipelined", await publish_pipelined(bus, PIPELINED), "msgs/s")

        total = SEQUENTIAL + PIPELINED
        done = asyncio.Event()
        seen = 0

        async def handler(_: Envelope[EventData]) -> None:
            nonlocal seen
            seen += 1
            if seen == total:
                done.set()

        started = time.perf_counter()
        await bus.consume(queue, bindings=["bench.#"], handler=handler)
        await asyncio.wait_for(done.wait(), timeout=300)
        report("bus_consume_validate_ack", total / (time.perf_counter() - started), "msgs/s")
    finally:
        await bus.close()
        await remove_bus(AMQP_URL, exchange=exchange, queue=queue)


if __name__ == "__main__":
    asyncio.run(main())
