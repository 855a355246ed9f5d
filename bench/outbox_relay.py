"""The outbox relay draining committed events to the real RabbitMQ from the real PostgreSQL.

``EVENTS`` routing-sized events are committed to an outbox of its own (a schema in the test
database), then one relay publishes them all with confirms and marks them published, batch by
batch, as a service does. Figures (one JSON line each): the relay's process CPU per event
(µs; the broker's and the database's CPU are not in it) and the drain rate (events/s, wall
clock, for orientation only: it moves with the machine's load). The schema, exchange and queue
are removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import sqlalchemy as sa
from _rabbit import remove_bus

from cc_common.bus._rabbit import RabbitBus
from cc_common.db import Database, Outbox, OutboxRelay, kit_tables
from cc_proto import make_event
from cc_proto.events import CallOffered

AMQP_URL = os.environ.get("CC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
EVENTS = 5_000


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 1), "unit": unit}), flush=True)


async def fill(db: Database, outbox: Outbox) -> None:
    """Commit EVENTS events to the outbox, a few hundred per transaction."""
    events = [
        make_event(CallOffered(queue="support"), tenant="bench", call_id=str(uuid.uuid4()))
        for _ in range(EVENTS)
    ]
    for start in range(0, EVENTS, 500):
        async with db.session() as session:
            await outbox.add_rows(session, [outbox.row(e) for e in events[start : start + 500]])


async def main() -> None:
    tag = uuid.uuid4().hex[:8]
    schema, exchange, queue = f"bench_{tag}", f"bench-{tag}", f"bench-{tag}-q"
    metadata = sa.MetaData(schema=schema)
    outbox = Outbox(kit_tables(metadata, schema).outbox)
    db = Database(DATABASE_URL, schemas=[schema])
    bus = await RabbitBus(AMQP_URL, service="bench", exchange=exchange).connect()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            await conn.run_sync(metadata.create_all)
        await bus.declare(queue, bindings=["bench.#"])
        await fill(db, outbox)
        relay = OutboxRelay(db, bus, outbox)
        cpu, wall = time.process_time(), time.perf_counter()
        relayed = 0
        while relayed < EVENTS:
            relayed += await relay.relay_once()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        report("outbox_relay_cpu_per_event", cpu / EVENTS * 1e6, "us")
        report("outbox_relay_drain_rate", EVENTS / wall, "events/s")
    finally:
        await bus.close()
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()
        await remove_bus(AMQP_URL, exchange=exchange, queue=queue)


if __name__ == "__main__":
    asyncio.run(main())
