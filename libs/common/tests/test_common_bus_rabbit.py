"""What only the real RabbitMQ can show: process death, broker-side limits, declared arguments."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Callable
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
