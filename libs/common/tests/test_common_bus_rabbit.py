"""What only the real RabbitMQ can show: process death, broker-side limits, declared arguments."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest

from cc_common.bus._rabbit import RabbitBus, dead_letter_queue
from cc_common.testing import eventually
from cc_proto import Envelope, EventData, make_event
from cc_proto.events import CallOffered

pytestmark = pytest.mark.integration

CHILD = """
import asyncio, sys
from cc_common.bus._rabbit import RabbitBus

async def main(url, exchange, queue):
    bus = await RabbitBus(url, service="child", exchange=exchange, delivery_limit=2).connect()

    async def stuck(event):
        print("got", event.id, flush=True)
        await asyncio.Event().wait()

    await bus.consume(queue, bindings=["#"], handler=stuck)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
def queue_name(unique_name: Callable[[str], str], rabbit_cleanup: Any) -> str:
    name: str = rabbit_cleanup.queue(unique_name("q"))
    return name


async def test_an_event_survives_its_consumer_process_being_killed(
    make_rabbit_bus: Any, queue_name: str, amqp_url: str
) -> None:
    bus: RabbitBus = await make_rabbit_bus()
    exchange = bus._exchange_name
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, amqp_url, exchange, queue_name, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    assert (await asyncio.wait_for(child.stdout.readline(), 20)).startswith(b"ready")
    event = make_event(CallOffered(queue="sales"), tenant="acme")
    await bus.publish(event)
    line = await asyncio.wait_for(child.stdout.readline(), 10)
    assert line.split()[1].decode() == str(event.id)
    os.kill(child.pid, signal.SIGKILL)  # dies mid-message, before any ack
    await child.wait()

    received: list[Envelope[EventData]] = []

    async def survivor(e: Envelope[EventData]) -> None:
        received.append(e)

    await bus.consume(queue_name, bindings=["#"], handler=survivor)
    await eventually(lambda: bool(received), within=15)
    assert [e.id for e in received] == [event.id]


async def test_a_message_whose_consumers_keep_dying_is_dead_lettered_by_the_broker(
    make_rabbit_bus: Any, queue_name: str, amqp_url: str
) -> None:
    bus: RabbitBus = await make_rabbit_bus(delivery_limit=2)
    await bus.declare(queue_name, bindings=["#"])
    await bus.publish(make_event(CallOffered(queue="sales"), tenant="acme"))
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for _ in range(3):  # first delivery + 2 redeliveries, each ended by a dying channel
            channel = await connection.channel()
            queue = await channel.get_queue(queue_name, ensure=False)
            message = None
            async with asyncio.timeout(10):
                while message is None:
                    message = await queue.get(no_ack=False, fail=False)
            await channel.close()
    dead: list[Any] = []
    async with asyncio.timeout(10):
        while not dead:
            dead = await bus.dead_letters(queue_name)
    assert dead[0].reason == "broker: delivery_limit"
    assert dead[0].routing_key == "acme.call.offered"


async def test_the_queue_is_quorum_with_an_explicit_delivery_limit_and_dead_lettering(
    make_rabbit_bus: Any, queue_name: str, amqp_url: str
) -> None:
    bus: RabbitBus = await make_rabbit_bus(delivery_limit=2)
    await bus.declare(queue_name, bindings=["#"])
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        # Redeclaring with different arguments fails only if the broker holds ours.
        wrong_arguments: list[dict[str, Any]] = [
            {"x-queue-type": "quorum", "x-delivery-limit": 3},
            {"x-queue-type": "classic"},
        ]
        for wrong in wrong_arguments:
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
                await channel.declare_queue(queue_name, durable=True, arguments=wrong)
        channel = await connection.channel()
        dead = await channel.declare_queue(dead_letter_queue(queue_name), passive=True)
        assert dead.name == dead_letter_queue(queue_name)


async def test_publish_returns_only_once_the_broker_holds_the_event(
    make_rabbit_bus: Any, queue_name: str, amqp_url: str
) -> None:
    bus: RabbitBus = await make_rabbit_bus()
    await bus.declare(queue_name, bindings=["acme.#"])
    for _ in range(50):
        await bus.publish(make_event(CallOffered(queue="sales"), tenant="acme"))
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        assert queue.declaration_result.message_count == 50


async def test_publishing_to_a_missing_exchange_fails_loudly(amqp_url: str) -> None:
    bus = RabbitBus(amqp_url, service="test", exchange=f"missing-{uuid.uuid4().hex}")
    await bus.connect()
    await bus._publish_channel.exchange_delete(bus._exchange_name)  # type: ignore[union-attr]
    with pytest.raises(aio_pika.exceptions.AMQPException):
        await bus.publish(make_event(CallOffered(queue="sales"), tenant="acme"))
    await bus.close()


class Gate:
    """A handler that holds every message until opened, and records what it finished."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.holding = 0
        self.done: list[uuid.UUID] = []

    async def __call__(self, event: Envelope[EventData]) -> None:
        self.holding += 1
        try:
            await self.open.wait()
        finally:
            self.holding -= 1
        self.done.append(event.id)


@pytest.fixture
async def own_bus(
    unique_name: Callable[[str], str], rabbit_cleanup: Any, amqp_url: str
) -> AsyncIterator[Callable[..., RabbitBus]]:
    """Yield a maker of RabbitMQ buses with options of the test's choosing; closed after."""
    made: list[RabbitBus] = []
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})

    def make(**options: Any) -> RabbitBus:
        bus = RabbitBus(amqp_url, service="test", exchange=exchange, **options)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


async def test_a_consumer_keeps_consuming_after_the_broker_closes_its_channel_mid_message(
    own_bus: Callable[..., RabbitBus], queue_name: str
) -> None:
    bus = own_bus()
    gate = Gate()
    consumer: Any = await bus.consume(queue_name, bindings=["#"], handler=gate, concurrency=4)
    sent = [make_event(CallOffered(queue="sales"), tenant="acme") for _ in range(40)]
    for event in sent:
        await bus.publish(event)
    await eventually(lambda: gate.holding == 4, within=10)
    channel = await consumer._channel.get_underlay_channel()
    await channel.basic_ack(delivery_tag=10_000)  # unknown tag: RabbitMQ closes the channel
    await eventually(lambda: channel.is_closed, within=10)
    gate.open.set()  # the four in hand finish; their acks have nowhere to go
    await eventually(lambda: {e.id for e in sent} <= set(gate.done), within=20)
    assert all(not task.done() for task in consumer.workers)
    await eventually(lambda: consumer.problem() is None, within=10)
    await bus.ping()


async def test_readiness_fails_while_a_consumer_settles_nothing_with_messages_waiting(
    own_bus: Callable[..., RabbitBus], queue_name: str
) -> None:
    bus = own_bus(stall_seconds=1.0)
    gate = Gate()
    await bus.consume(queue_name, bindings=["#"], handler=gate, concurrency=2)
    await asyncio.sleep(1.5)
    await bus.ping()  # idle for longer than the stall limit is not stuck
    for _ in range(5):
        await bus.publish(make_event(CallOffered(queue="sales"), tenant="acme"))
    await eventually(lambda: gate.holding == 2, within=10)
    await bus.ping()  # busy, not yet stuck

    async def stuck() -> bool:
        try:
            await bus.ping()
        except ConnectionError as exc:
            return "settled nothing" in str(exc) and "5 waiting" in str(exc)
        return False

    async with asyncio.timeout(10):
        while not await stuck():
            await asyncio.sleep(0.1)
    gate.open.set()
    await eventually(lambda: len(gate.done) == 5, within=10)
    await bus.ping()
