"""The bus through broker faults, on a RabbitMQ node of the test's own (restarted at will).

A consumer with messages in hand loses its connection (the broker closes it), then the broker is
killed and restarted while a backlog drains and a publisher keeps publishing. Every confirmed
event is consumed (redelivered copies are counted, never lost), consuming resumes after each
fault, and readiness (``ping``) says not ready during the fault and ready again after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

import pytest

from cc_common.bus._rabbit import RabbitBus
from cc_common.bus.private_node import PrivateRabbitNode
from cc_common.testing import eventually
from cc_proto import Envelope, EventData, make_event
from cc_proto.events import CallOffered

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUEUE = "faults"
BACKLOG = 1000
CONCURRENCY = 8


class Ledger:
    """A consumer's handler: records each event once, counts copies, and can be held."""

    def __init__(self) -> None:
        self.seen: set[uuid.UUID] = set()
        self.copies = 0
        self.open = asyncio.Event()
        self.open.set()
        self.holding = 0

    async def __call__(self, event: Envelope[EventData]) -> None:
        self.holding += 1
        try:
            await self.open.wait()
        finally:
            self.holding -= 1
        if event.id in self.seen:
            self.copies += 1
        self.seen.add(event.id)


class Readiness:
    """Polls the bus's readiness check and remembers every answer it gave."""

    def __init__(self, bus: RabbitBus) -> None:
        self.bus = bus
        self.answers: list[tuple[float, bool, str]] = []
        self._task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                async with asyncio.timeout(2):
                    await self.bus.ping()
            except Exception as exc:
                self.answers.append((time.monotonic(), False, str(exc)))
            else:
                self.answers.append((time.monotonic(), True, ""))
            await asyncio.sleep(0.05)

    def ready(self) -> bool:
        return bool(self.answers) and self.answers[-1][1]

    def went_down_since(self, moment: float) -> bool:
        return any(not ok for at, ok, _ in self.answers if at >= moment)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Publisher:
    """Publishes until stopped, retrying each event until the broker confirms it."""

    def __init__(self, bus: RabbitBus) -> None:
        self.bus = bus
        self.confirmed: set[uuid.UUID] = set()
        self.failures = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def publish(self, count: int, *, parallel: int = 50) -> None:
        """Publish ``count`` events, ``parallel`` at a time, each until confirmed."""
        for start in range(0, count, parallel):
            batch = [self._one() for _ in range(min(parallel, count - start))]
            await asyncio.gather(*batch)

    async def _one(self) -> None:
        event = make_event(CallOffered(queue="sales"), tenant="acme", call_id=str(uuid.uuid4()))
        while True:
            try:
                async with asyncio.timeout(5):
                    await self.bus.publish(event)
            except Exception:  # the broker is away: an outbox would retry just so
                self.failures += 1
                await asyncio.sleep(0.2)
            else:
                self.confirmed.add(event.id)
                return

    def start(self, per_tick: int = 10, tick: float = 0.05) -> None:
        """Keep publishing ``per_tick`` events every ``tick`` seconds in the background."""

        async def run() -> None:
            while not self._stopping:
                await self.publish(per_tick, parallel=per_tick)
                await asyncio.sleep(tick)

        self._task = asyncio.create_task(run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await self._task


async def test_a_consumer_rides_out_a_lost_connection_and_a_broker_restart_losing_nothing(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    async with PrivateRabbitNode(tmp_path / "rabbit") as node:
        consumer_bus = RabbitBus(node.url, service="metrics", exchange="cc.events", stall_seconds=3)
        publisher_bus = RabbitBus(node.url, service="routing", exchange="cc.events")
        await publisher_bus.connect()
        await publisher_bus.declare(QUEUE, bindings=["acme.#"])
        publisher = Publisher(publisher_bus)
        await publisher.publish(BACKLOG)

        ledger = Ledger()
        ledger.open.clear()  # every worker will hold a message when the connection goes
        consumer = await consumer_bus.consume(
            QUEUE, bindings=["acme.#"], handler=ledger, concurrency=CONCURRENCY
        )
        readiness = Readiness(consumer_bus)
        try:
            # 1. The broker closes the connection while every worker has a message in hand.
            await eventually(lambda: ledger.holding == CONCURRENCY, within=15)
            before = time.monotonic()
            await node.close_connections()
            await eventually(lambda: readiness.went_down_since(before), within=10)
            ledger.open.set()  # their acks can no longer reach the broker
            await eventually(lambda: len(ledger.seen) >= BACKLOG // 4, within=20)
            await eventually(readiness.ready, within=20)
            assert consumer.problem() is None

            # 2. The broker is killed and restarted under load, with a backlog still draining.
            ledger.open.clear()
            publisher.start()
            await publisher.publish(BACKLOG)
            await eventually(lambda: ledger.holding == CONCURRENCY, within=15)
            before = time.monotonic()
            await node.kill()
            await eventually(lambda: readiness.went_down_since(before), within=10)
            ledger.open.set()
            await asyncio.sleep(1.0)  # the publisher keeps trying while the broker is away
            await node.start()
            await eventually(readiness.ready, within=30)
            drained_from = len(ledger.seen)
            await eventually(lambda: len(ledger.seen) > drained_from, within=20)
            await publisher.stop()

            # 0 lost: every confirmed event is consumed, once or more.
            await eventually(lambda: publisher.confirmed <= ledger.seen, within=45)
            assert publisher.failures > 0  # the publisher really met the dead broker
            assert len(publisher.confirmed) > 2 * BACKLOG
            assert consumer.problem() is None
            await eventually(readiness.ready, within=10)
        finally:
            await readiness.stop()
            await consumer_bus.close()
            await publisher_bus.close()
    print(  # figures for the report (pytest -s)
        f"confirmed={len(publisher.confirmed)} consumed={len(ledger.seen)} "
        f"redelivered={ledger.copies} publish_retries={publisher.failures} "
        f"wall={time.monotonic() - started:.1f}s"
    )
