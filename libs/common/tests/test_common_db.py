"""The database kit on the real PostgreSQL and on SQLite: sessions, schemas, outbox, idempotency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cc_common.bus import MAX_MESSAGE_BYTES, Bus, MessageTooLarge
from cc_common.bus._memory import MemoryBroker, MemoryBus
from cc_common.db import Database, Outbox, OutboxRelay, claim_event, kit_tables
from cc_common.testing import eventually
from cc_proto import Envelope, EventData, make_event
from cc_proto.events import CallOffered

pytestmark = pytest.mark.integration

SCHEMA = "kittest"
metadata = sa.MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)
calls = sa.Table("calls", metadata, sa.Column("id", sa.String(40), primary_key=True))


@pytest.fixture(params=["postgresql", "sqlite"])
async def db(
    request: pytest.FixtureRequest, sqlite_url: str, make_pg_url: Any
) -> AsyncIterator[Database]:
    """Yield a database with the test schema created, on each backend."""
    url = await make_pg_url() if request.param == "postgresql" else sqlite_url
    database = Database(url, schemas=[SCHEMA])
    async with database.engine.begin() as conn:
        if database.is_postgres:
            await conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def count(db: Database, table: sa.Table) -> int:
    async with db.session() as session:
        return int(
            (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        )


async def test_a_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    async with db.session() as session:
        await session.execute(calls.insert().values(id="kept"))
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await session.execute(calls.insert().values(id="lost"))
            raise RuntimeError("boom")
    async with db.session() as session:
        ids = list((await session.execute(sa.select(calls.c.id))).scalars())
    assert ids == ["kept"]
    await db.ping()


async def test_claim_event_is_true_once_per_consumer(db: Database) -> None:
    event_id = uuid.uuid4()
    table = kit.processed_events
    async with db.session() as session:
        assert await claim_event(session, table=table, consumer="metrics", event_id=event_id)
        assert not await claim_event(session, table=table, consumer="metrics", event_id=event_id)
        assert await claim_event(session, table=table, consumer="routing", event_id=event_id)


async def test_the_outbox_publishes_only_committed_events_in_order(db: Database) -> None:
    bus = MemoryBus(MemoryBroker())
    received: list[Envelope[EventData]] = []

    async def collect(event: Envelope[EventData]) -> None:
        received.append(event)

    await bus.consume("watcher", bindings=["#"], handler=collect)
    outbox = Outbox(kit.outbox)
    sent = [make_event(CallOffered(queue=f"q{i}"), tenant="acme") for i in range(5)]
    for event in sent:
        async with db.session() as session:
            await session.execute(calls.insert().values(id=str(event.id)))
            await outbox.add(session, event)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await outbox.add(session, make_event(CallOffered(queue="rolled-back"), tenant="acme"))
            raise RuntimeError("the state change failed")
    relay = OutboxRelay(db, bus, outbox, batch=2)
    assert [await relay.relay_once() for _ in range(4)] == [2, 2, 1, 0]
    await asyncio.sleep(0.05)
    assert [e.id for e in received] == [e.id for e in sent]
    await bus.close()


async def test_the_relay_prunes_published_rows_at_most_once_a_period(db: Database) -> None:
    outbox = Outbox(kit.outbox)

    async def add_one() -> None:
        async with db.session() as session:
            await outbox.add(session, make_event(CallOffered(queue="q"), tenant="acme"))

    bus = MemoryBus(MemoryBroker())
    rarely = OutboxRelay(db, bus, outbox, keep_published=timedelta(0), prune_every=3600)
    for _ in range(3):
        await add_one()
        assert await rarely.relay_once() == 1
    # Pruned once, at the first batch, when nothing was old yet.
    assert await count(db, kit.outbox) == 3
    always = OutboxRelay(db, bus, outbox, keep_published=timedelta(0), prune_every=0)
    await add_one()
    assert await always.relay_once() == 1
    assert await count(db, kit.outbox) == 1  # only the row just published is left


async def test_the_relay_keeps_rows_when_the_broker_refuses(db: Database) -> None:
    class DownBus(MemoryBus):
        async def publish_raw(self, body: bytes, *, routing_key: str) -> None:
            raise ConnectionError("broker away")

    outbox = Outbox(kit.outbox)
    async with db.session() as session:
        await outbox.add(session, make_event(CallOffered(queue="q"), tenant="acme"))
    with pytest.raises(ConnectionError):
        await OutboxRelay(db, DownBus(MemoryBroker()), outbox).relay_once()
    async with db.session() as session:
        pending = await session.execute(
            sa.select(sa.func.count()).where(kit.outbox.c.published_at.is_(None))
        )
        assert pending.scalar_one() == 1


async def test_an_event_too_large_for_the_bus_is_refused_and_never_blocks_the_relay(
    db: Database,
) -> None:
    broker = MemoryBroker()
    bus = MemoryBus(broker)
    received: list[Envelope[EventData]] = []

    async def collect(event: Envelope[EventData]) -> None:
        received.append(event)

    await bus.consume("watch", bindings=["#"], handler=collect)
    outbox = Outbox(kit.outbox)
    huge = make_event(CallOffered.model_construct(queue="q" * MAX_MESSAGE_BYTES), tenant="acme")
    async with db.session() as session:
        with pytest.raises(MessageTooLarge):
            await outbox.add(session, huge)
    small = [make_event(CallOffered(queue="q"), tenant="acme") for _ in range(2)]
    async with db.session() as session:
        await outbox.add(session, small[0])
        # One written before the limit was lowered (straight into the table): it must not block.
        await session.execute(
            kit.outbox.insert().values(
                event_id=huge.id,
                routing_key="acme.call.offered",
                body=huge.to_json(),
                created_at=huge.occurred_at,
            )
        )
        await outbox.add(session, small[1])
    relay = OutboxRelay(db, bus, outbox)
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 0
    await eventually(lambda: len(received) == 2)
    assert [e.id for e in received] == [e.id for e in small]
    async with db.session() as session:
        pending = await session.execute(
            sa.select(kit.outbox.c.event_id).where(kit.outbox.c.published_at.is_(None))
        )
        assert list(pending.scalars()) == [huge.id]  # kept for whoever investigates
    await bus.close()


async def test_the_background_relay_delivers_to_rabbitmq(
    pg_url: str, make_rabbit_bus: Any, unique_name: Any, rabbit_cleanup: Any
) -> None:
    database = Database(pg_url, schemas=[SCHEMA])
    async with database.engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    bus: Bus = await make_rabbit_bus()
    queue = rabbit_cleanup.queue(unique_name("q"))
    received: list[Envelope[EventData]] = []

    async def collect(event: Envelope[EventData]) -> None:
        received.append(event)

    await bus.consume(queue, bindings=["acme.#"], handler=collect)
    outbox = Outbox(kit.outbox)
    relay = OutboxRelay(database, bus, outbox, idle_poll=0.05)
    relay.start()
    event = make_event(CallOffered(queue="sales"), tenant="acme")
    async with database.session() as session:
        await outbox.add(session, event)
    relay.notify()
    await eventually(lambda: bool(received))
    await relay.stop()
    assert received[0].id == event.id
    await database.dispose()


async def test_sqlite_keeps_each_schema_in_its_own_file(sqlite_url: str, tmp_path: Any) -> None:
    database = Database(sqlite_url, schemas=["alpha", "beta"])
    other = sa.MetaData()
    for schema in ("alpha", "beta"):
        sa.Table("things", other, sa.Column("id", sa.Integer, primary_key=True), schema=schema)
    async with database.engine.begin() as conn:
        await conn.run_sync(other.create_all)
        await conn.execute(sa.text("INSERT INTO alpha.things (id) VALUES (1)"))
        beta_rows = (await conn.execute(sa.text("SELECT count(*) FROM beta.things"))).scalar_one()
    assert beta_rows == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"cc-alpha.sqlite3", "cc-beta.sqlite3"}
    await database.dispose()
