"""Metrics ingest from the real RabbitMQ into PostgreSQL: consume, compute, commit, ack.

The events of a simulated contact-center day are queued first; then the metrics service starts
and drains them. Figures: events per second (first delivery to the last commit), and the lag of
the live gauges (an event published now until the service's live state shows it), p50 and p99.
Uses its own exchange, queue and database, removed afterwards. One JSON line per figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from _rabbit import remove_bus
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cc_common.bus._rabbit import RabbitBus
from cc_metrics.adapters.db import kit
from cc_metrics.app import create_app
from cc_metrics.settings import MetricsSettings
from cc_metrics.testing import Events, simulate_run

AMQP_URL = os.environ.get("CC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
LAG_SAMPLES = 200


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def processed(app: object) -> int:
    db = app.state.db  # type: ignore[attr-defined]
    async with db.session() as session:
        count = await session.execute(select(func.count()).select_from(kit.processed_events))
        return int(count.scalar_one())


async def drain(app: object, total: int) -> None:
    while await processed(app) < total:  # noqa: ASYNC110  (the count lives in the database)
        await asyncio.sleep(0.02)


async def measure(settings: MetricsSettings, publisher: RabbitBus) -> None:
    run = simulate_run(
        seed=1, agents=60, calls_per_hour=1300, duration_seconds=3 * 3600, tenant="bench"
    )
    await publisher.declare(settings.consumer_queue, bindings=["bench.#"])
    for start in range(0, len(run.events), 256):
        await asyncio.gather(*(publisher.publish(e) for e in run.events[start : start + 256]))
    app = create_app(settings)
    started = time.perf_counter()
    async with app.router.lifespan_context(app):
        await drain(app, len(run.events))
        rate = len(run.events) / (time.perf_counter() - started)
        report("metrics_ingest_rabbitmq_postgres", rate, "events/s")
        engine = app.state.runtime.engine
        events = Events(tenant="bench")
        lags = []
        for n in range(LAG_SAMPLES):
            event = events.offered(f"lag-{n}", "lag", 0)
            event = event.model_copy(update={"occurred_at": datetime.now(UTC)})
            sent = time.perf_counter()
            await publisher.publish(event)
            while f"lag-{n}" not in engine.live.queue("lag").waiting:  # noqa: ASYNC110
                await asyncio.sleep(0.0005)
            lags.append((time.perf_counter() - sent) * 1000)
        quantiles = statistics.quantiles(lags, n=100)
        report("metrics_live_gauge_lag_p50", statistics.median(lags), "ms")
        report("metrics_live_gauge_lag_p99", quantiles[98], "ms")


async def main() -> None:
    tag = uuid.uuid4().hex[:8]
    database = f"bench_metrics_{tag}"
    admin = await asyncpg.connect(_dsn(DATABASE_URL))
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    exchange, queue = f"bench-metrics-{tag}", f"bench-metrics-{tag}-q"
    settings = MetricsSettings(
        tenant="bench", amqp_url=AMQP_URL, bus_exchange=exchange, metrics_queue=queue,
        database_url=make_url(DATABASE_URL).set(database=database).render_as_string(False),
        metrics_concurrency=256, metrics_batch_max=256, bus_prefetch=512,
    )  # fmt: skip
    publisher = await RabbitBus(AMQP_URL, service="bench", exchange=exchange).connect()
    try:
        await measure(settings, publisher)
    finally:
        await publisher.close()
        await remove_bus(AMQP_URL, exchange=exchange, queue=queue)
        admin = await asyncpg.connect(_dsn(DATABASE_URL))
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
