"""The store on PostgreSQL and SQLite: the same events give the same report buckets on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from cc_common.db import Database, migrations
from cc_metrics.adapters import reports as reports_module
from cc_metrics.adapters.consumer import MetricsConsumer
from cc_metrics.adapters.db import SCHEMA
from cc_metrics.adapters.reports import ReportQuery, ReportReader
from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.intervals import Granularity
from cc_metrics.core.kpis import Scope
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.exposition import LiveMetrics
from cc_metrics.testing import Clock, Events, simulate_run

pytestmark = pytest.mark.integration

# Across the night Berlin's clocks go back (26 October 2025, 01:00 UTC).
NIGHT = datetime(2025, 10, 25, 21, 0, tzinfo=UTC)


async def consumer_on(url: str) -> AsyncIterator[MetricsConsumer]:
    db = Database(url, schemas=[SCHEMA])
    await migrations.upgrade(db, "cc_metrics")
    engine = MetricsEngine(tenant="acme", thresholds=Thresholds())
    live = LiveMetrics(engine, registry=CollectorRegistry(), clock=Clock(NIGHT))
    yield MetricsConsumer(db=db, engine=engine, live=live, clock=Clock(NIGHT + timedelta(days=1)))
    await db.dispose()


def dialer_night() -> list[Any]:
    """Dials, answers and dispositions of two campaigns across the night (and its DST change)."""
    e = Events(start=NIGHT)
    events: list[Any] = []
    for n, at in enumerate(range(0, 6 * 3600, 420)):
        campaign, lead = ("renewals", "winback")[n % 2], f"l{n}"
        events.append(e.dialled(campaign, lead, at))
        if n % 3 == 0:
            events.append(e.dial_connected(campaign, lead, at + 12, wait=0.25 * (n % 4)))
            events.append(e.dispositioned(campaign, lead, at + 200, "sale", n % 2 == 0))
        elif n % 5 == 0:
            events.append(e.dial_dropped(campaign, lead, at + 9, wait=2.0))
        elif n % 7 == 0:
            events.append(e.dial_connected(campaign, lead, at + 8, by="machine"))
    return events


@pytest.fixture
async def both(pg_url: str, sqlite_url: str) -> AsyncIterator[list[MetricsConsumer]]:
    run = simulate_run(seed=5, agents=6, calls_per_hour=100, duration_seconds=6 * 3600, start=NIGHT)
    events = [*run.events, *dialer_night()]
    made = []
    closers = []
    for url in (pg_url, sqlite_url):
        gen = consumer_on(url)
        consumer = await gen.__anext__()
        for start in range(0, len(events), 300):
            await consumer.apply_batch(events[start : start + 300])
        made.append(consumer)
        closers.append(gen)
    yield made
    for gen in closers:
        with pytest.raises(StopAsyncIteration):
            await gen.__anext__()


def rounded(buckets: dict[Any, dict[str, float]]) -> dict[Any, dict[str, float]]:
    return {k: {n: round(v, 6) for n, v in f.items() if round(v, 6)} for k, f in buckets.items()}


CASES = [
    (Granularity.MIN15, "UTC"),
    (Granularity.MIN30, "Asia/Kathmandu"),
    (Granularity.HOUR, "Europe/Berlin"),
    (Granularity.DAY, "Europe/Berlin"),
    (Granularity.WEEK, "America/New_York"),
    (Granularity.MONTH, "Asia/Kolkata"),
    (Granularity.TOTAL, "UTC"),
]


async def buckets(consumer: MetricsConsumer, scope: Scope, grain: Granularity, zone: str) -> Any:
    query = ReportQuery(
        scope, None, NIGHT - timedelta(hours=1), NIGHT + timedelta(hours=9), grain,
        ZoneInfo(zone), zone, NIGHT + timedelta(days=1),
    )  # fmt: skip
    async with consumer.db.session() as session:
        return rounded(await ReportReader("acme").buckets(session, query))


async def test_postgres_and_sqlite_give_the_same_buckets(both: list[MetricsConsumer]) -> None:
    postgres, sqlite = both
    for scope in Scope:
        for grain, zone in CASES:
            on_postgres = await buckets(postgres, scope, grain, zone)
            assert on_postgres, (scope, grain)
            assert on_postgres == await buckets(sqlite, scope, grain, zone), (scope, grain, zone)
    # 02:00-03:00 Berlin time happened twice that night: two buckets, an hour apart.
    hours = await buckets(postgres, Scope.QUEUE, Granularity.HOUR, "Europe/Berlin")
    starts = {b for _, b in hours}
    assert datetime(2025, 10, 26, 0, tzinfo=UTC) in starts
    assert datetime(2025, 10, 26, 1, tzinfo=UTC) in starts


async def test_hour_tables_answer_like_the_15_minute_tables(
    both: list[MetricsConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres, _ = both
    cases = [(Granularity.HOUR, "Europe/Berlin"), (Granularity.DAY, "America/New_York"),
             (Granularity.TOTAL, "UTC")]  # fmt: skip
    from_hours = {(s, c): await buckets(postgres, s, *c) for s in Scope for c in cases}
    monkeypatch.setattr(reports_module, "whole_hours", lambda *_: False)
    for scope in Scope:
        for case in cases:
            assert await buckets(postgres, scope, *case) == from_hours[scope, case], (scope, case)


async def test_a_batch_written_twice_counts_once(pg_url: str) -> None:
    run = simulate_run(seed=6, agents=4, calls_per_hour=60, duration_seconds=1800, start=NIGHT)
    gen = consumer_on(pg_url)
    consumer = await gen.__anext__()
    first = await consumer.apply_batch(run.events)
    consumer.engine.forget()  # as after a restart: memory empty, the database remembers
    second = await consumer.apply_batch(run.events)
    assert not any(o.duplicate for o in first)
    assert all(o.duplicate for o in second)
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()
