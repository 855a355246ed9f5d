"""The bus contract: the same tests against the in-process broker and the real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from cc_common.bus import MAX_MESSAGE_BYTES, Bus, MessageTooLarge, Rejected
from cc_common.bus._base import MAX_REASON_CHARS, failure_reason
from cc_common.bus._memory import MemoryBroker, MemoryBus
from cc_common.bus._rabbit import RabbitBus
from cc_common.db import Database, claim_event, kit_tables
from cc_common.testing import eventually
from cc_proto import ContractError, Envelope, EventData, make_event
from cc_proto.events import AgentLoggedIn, CallOffered

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "rabbitmq"])
async def bus(request: pytest.FixtureRequest, make_rabbit_bus: Any) -> AsyncIterator[Bus]:
    """Yield each bus implementation in turn, with a delivery limit of 2 redeliveries."""
    if request.param == "rabbitmq":
        yield await make_rabbit_bus(delivery_limit=2)
        return
    memory = MemoryBus(MemoryBroker(), exchange="cc.events", delivery_limit=2)
    yield memory
    await memory.close()


@pytest.fixture
def queue_name(unique_name: Callable[[str], str], rabbit_cleanup: Any) -> str:
    """Return a queue name of this test's own (deleted from RabbitMQ afterwards)."""
    name: str = rabbit_cleanup.queue(unique_name("q"))
    return name


def offered(queue: str, tenant: str = "acme") -> Envelope[CallOffered]:
    return make_event(CallOffered(queue=queue), tenant=tenant, call_id=str(uuid.uuid4()))


class Collector:
    """A handler that records what it was given and can be told to fail."""

    def __init__(self, fail_times: int = 0, exc: Exception | None = None) -> None:
        self.seen: list[Envelope[EventData]] = []
        self.attempts: dict[uuid.UUID, int] = {}
        self.fail_times = fail_times
        self.exc = exc or RuntimeError("transient")
        self.arrived = asyncio.Event()

    async def __call__(self, event: Envelope[EventData]) -> None:
        self.attempts[event.id] = self.attempts.get(event.id, 0) + 1
        self.arrived.set()
        if self.attempts[event.id] <= self.fail_times:
            raise self.exc
        self.seen.append(event)


async def dead_letters_of(bus: Bus, queue: str, count: int) -> list[Any]:
    """Wait for ``count`` dead letters and return them."""
    found: list[Any] = []

    async def poll() -> None:
        while len(found) < count:
            found.extend(await bus.dead_letters(queue))
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout=10)
    return found


async def test_published_events_are_consumed_in_order_and_acked(bus: Bus, queue_name: str) -> None:
    handler = Collector()
    consumer = await bus.consume(queue_name, bindings=["acme.call.*"], handler=handler)
    sent = [offered(f"q{i}") for i in range(20)]
    for event in sent:
        await bus.publish(event)
    await eventually(lambda: len(handler.seen) == 20)
    assert [e.id for e in handler.seen] == [e.id for e in sent]
    assert isinstance(handler.seen[0].data, CallOffered)
    await consumer.cancel()
    # Acked means gone: a new consumer on the same queue receives nothing.
    again = Collector()
    consumer = await bus.consume(queue_name, bindings=["acme.call.*"], handler=again)
    await bus.publish(offered("marker"))
    await eventually(lambda: len(again.seen) == 1)
    assert [e.data.queue for e in again.seen] == ["marker"]  # type: ignore[attr-defined]
    await consumer.cancel()


async def test_bindings_route_by_topic(bus: Bus, queue_name: str) -> None:
    handler = Collector()
    await bus.consume(queue_name, bindings=["acme.agent.#"], handler=handler)
    await bus.publish(offered("sales"))
    await bus.publish(make_event(AgentLoggedIn(queues=["sales"]), tenant="acme", agent_id="a1"))
    await bus.publish(make_event(AgentLoggedIn(), tenant="other", agent_id="a2"))
    await eventually(lambda: len(handler.seen) == 1)
    await asyncio.sleep(0.2)
    assert [e.agent_id for e in handler.seen] == ["a1"]


async def test_a_failing_handler_gets_the_event_again(bus: Bus, queue_name: str) -> None:
    handler = Collector(fail_times=1)
    await bus.consume(queue_name, bindings=["#"], handler=handler)
    event = offered("sales")
    await bus.publish(event)
    await eventually(lambda: len(handler.seen) == 1)
    assert handler.attempts[event.id] == 2
    assert await bus.dead_letters(queue_name) == []


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        (b"\xff not json", "not JSON"),
        (b'{"type": "call.teleported", "version": 1}', "unknown event type/version"),
        (b'{"type": "call.offered", "version": 9}', "unknown event type/version"),
        (b'{"type": "call.offered", "version": 1, "id": "x"}', "schema"),
    ],
)
async def test_poison_messages_are_dead_lettered_with_the_reason_and_consuming_goes_on(
    bus: Bus, queue_name: str, body: bytes, reason_part: str
) -> None:
    handler = Collector()
    await bus.consume(queue_name, bindings=["acme.#"], handler=handler)
    await bus.publish_raw(body, routing_key="acme.call.offered")
    await bus.publish(offered("after-poison"))
    await eventually(lambda: len(handler.seen) == 1)
    [dead] = await dead_letters_of(bus, queue_name, 1)
    assert reason_part in dead.reason
    assert dead.body == body
    assert dead.routing_key == "acme.call.offered"
    assert handler.attempts == {handler.seen[0].id: 1}  # the poison never reached the handler


async def test_a_handler_that_always_fails_is_dead_lettered_after_the_limit(
    bus: Bus, queue_name: str
) -> None:
    handler = Collector(fail_times=1000, exc=RuntimeError("database on fire"))
    await bus.consume(queue_name, bindings=["#"], handler=handler)
    event = offered("sales")
    await bus.publish(event)
    [dead] = await dead_letters_of(bus, queue_name, 1)
    assert handler.attempts[event.id] == 3  # first delivery + the limit of 2 redeliveries
    assert "database on fire" in dead.reason


async def test_a_rejected_event_is_dead_lettered_at_once(bus: Bus, queue_name: str) -> None:
    handler = Collector(fail_times=1000, exc=Rejected("queue 'x' does not exist"))
    await bus.consume(queue_name, bindings=["#"], handler=handler)
    event = offered("x")
    await bus.publish(event)
    [dead] = await dead_letters_of(bus, queue_name, 1)
    assert handler.attempts[event.id] == 1
    assert dead.reason == "queue 'x' does not exist"


async def test_a_consumer_that_dies_mid_message_loses_nothing(bus: Bus, queue_name: str) -> None:
    started = asyncio.Event()

    async def stuck(_: Envelope[EventData]) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes: the process "dies" here

    first = await bus.consume(queue_name, bindings=["#"], handler=stuck)
    event = offered("sales")
    await bus.publish(event)
    await asyncio.wait_for(started.wait(), 10)
    await first.cancel()
    survivor = Collector()
    await bus.consume(queue_name, bindings=["#"], handler=survivor)
    await eventually(lambda: len(survivor.seen) == 1)
    assert survivor.seen[0].id == event.id


async def test_redelivery_after_commit_does_not_process_twice(
    bus: Bus, queue_name: str, pg_url: str
) -> None:
    metadata = sa.MetaData(schema="effects")
    tables = kit_tables(metadata, "effects")
    effects = sa.Table("applied", metadata, sa.Column("event_id", sa.Uuid, nullable=False))
    db = Database(pg_url, schemas=["effects"])
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE SCHEMA effects"))
        await conn.run_sync(metadata.create_all)
    crashed: set[uuid.UUID] = set()

    async def handler(event: Envelope[EventData]) -> None:
        async with db.session() as session:
            if not await claim_event(
                session, table=tables.processed_events, consumer="test", event_id=event.id
            ):
                return
            await session.execute(effects.insert().values(event_id=event.id))
        if event.id not in crashed:  # committed, then died before the ack
            crashed.add(event.id)
            raise RuntimeError("crash between commit and ack")

    await bus.consume(queue_name, bindings=["#"], handler=handler)
    sent = [offered("sales") for _ in range(5)]
    for event in sent:
        await bus.publish(event)

    async def applied() -> list[uuid.UUID]:
        async with db.session() as session:
            return list((await session.execute(sa.select(effects.c.event_id))).scalars())

    await eventually(lambda: len(crashed) == 5)
    await asyncio.sleep(0.3)
    assert sorted(map(str, await applied())) == sorted(str(e.id) for e in sent)
    assert await bus.dead_letters(queue_name) == []
    await db.dispose()


def unchecked_publisher(bus: Bus) -> Bus:
    """Return a bus on the same broker and exchange that allows far larger messages."""
    if isinstance(bus, MemoryBus):
        return MemoryBus(bus._broker, exchange=bus._exchange, max_message_bytes=1 << 30)
    rabbit: Any = bus
    return RabbitBus(
        rabbit._url, service="test", exchange=rabbit._exchange_name, max_message_bytes=1 << 30
    )


async def test_a_batch_arrives_in_order_and_a_too_large_body_is_refused_alone(
    bus: Bus, queue_name: str
) -> None:
    handler = Collector()
    await bus.consume(queue_name, bindings=["acme.#"], handler=handler)
    sent = [offered(f"q{i}") for i in range(50)]
    batch = [(event.to_json(), "acme.call.offered") for event in sent]
    batch.insert(20, (b"x" * (MAX_MESSAGE_BYTES + 1), "acme.call.offered"))
    refused = await bus.publish_raw_batch(batch)
    assert [i for i, why in enumerate(refused) if why is not None] == [20]
    assert isinstance(refused[20], MessageTooLarge)
    await eventually(lambda: len(handler.seen) == len(sent))
    assert [e.id for e in handler.seen] == [e.id for e in sent]


async def test_a_message_over_the_size_limit_is_refused_at_publish(
    bus: Bus, queue_name: str
) -> None:
    handler = Collector()
    await bus.consume(queue_name, bindings=["acme.#"], handler=handler)
    with pytest.raises(MessageTooLarge):
        await bus.publish_raw(b"x" * (MAX_MESSAGE_BYTES + 1), routing_key="acme.call.offered")
    with pytest.raises(MessageTooLarge):
        huge = CallOffered.model_construct(queue="q" * MAX_MESSAGE_BYTES)  # past validation
        await bus.publish(make_event(huge, tenant="acme"))
    await bus.publish(offered("after"))
    await eventually(lambda: len(handler.seen) == 1)


HOSTILE = [
    pytest.param(
        json.dumps({"type": "call.offered", "version": 1, "data": {"queue": "x" * 400_000}}),
        "message too large",
        id="too-large",
    ),
    pytest.param(
        '{"type": "call.offered", "version": 1, "data": ' + "[" * 50_000 + "]" * 50_000 + "}",
        "nested too deeply",
        id="too-deep",
    ),
    pytest.param(
        json.dumps({"type": "t" * 200_000, "version": 1}),
        "unknown event type/version",
        id="huge-type",
    ),
    pytest.param(
        json.dumps({"type": "call.offered", "version": 1, **{f"f{i}": i for i in range(15_000)}}),
        "unknown envelope fields",
        id="many-fields",
    ),
]


@pytest.mark.parametrize(("body", "reason_part"), HOSTILE)
async def test_hostile_messages_are_dead_lettered_at_once_with_a_short_reason(
    bus: Bus, queue_name: str, body: str, reason_part: str
) -> None:
    handler = Collector()
    await bus.consume(queue_name, bindings=["acme.#"], handler=handler)
    loose = unchecked_publisher(bus)
    try:
        await loose.publish_raw(body.encode(), routing_key="acme.call.offered")
    finally:
        await loose.close()
    await bus.publish(offered("after-poison"))
    await eventually(lambda: len(handler.seen) == 1, within=20)
    [dead] = await dead_letters_of(bus, queue_name, 1)
    assert reason_part in dead.reason
    assert len(dead.reason) <= MAX_REASON_CHARS
    assert dead.body == body.encode()  # kept whole for whoever investigates
    assert len(handler.attempts) == 1  # the poison never reached the handler, nor came back
    await bus.ping()  # the connection survived


@pytest.mark.parametrize(
    "error", [RecursionError("deep"), UnicodeDecodeError("utf-8", b"", 0, 1, "x")]
)
async def test_a_handler_failing_on_the_message_itself_is_poison_not_transient(
    bus: Bus, queue_name: str, error: Exception
) -> None:
    handler = Collector(fail_times=1000, exc=error)
    await bus.consume(queue_name, bindings=["#"], handler=handler)
    event = offered("sales")
    await bus.publish(event)
    [dead] = await dead_letters_of(bus, queue_name, 1)
    assert handler.attempts[event.id] == 1
    assert type(error).__name__ in dead.reason


def test_a_long_reason_is_cut_to_fit_a_header() -> None:
    reason = failure_reason(ContractError("unknown event type/version: " + "t" * 300_000))
    assert len(reason) == MAX_REASON_CHARS
    assert reason.startswith("unknown event type/version: ttt")
    assert reason.endswith("more characters)")
    assert failure_reason(Rejected("short")) == "short"


async def test_a_consumer_that_stopped_makes_the_bus_not_ready(bus: Bus, queue_name: str) -> None:
    consumer = await bus.consume(queue_name, bindings=["#"], handler=Collector())
    await bus.ping()
    for task in consumer._workers if isinstance(bus, MemoryBus) else consumer.workers:  # type: ignore[attr-defined]
        task.cancel()
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectionError, match="stopped"):
        await bus.ping()
