"""The public CRM API over the running platform (routing on the simulator, metrics, crm-api, all
served over HTTP on loopback, PostgreSQL and RabbitMQ): latency of the call-record list and of
one call (p50/p99) over a modest data set, and event-stream fan-out (events per second delivered
to many connected SSE clients, read by a separate process as remote screens would be, delivery
lag p50/p99 from publish on the bus to receipt). Uses its own database and exchange,
removed afterwards. One JSON line per figure. ``CRM_BENCH_CALLS`` and ``CRM_BENCH_CLIENTS``
size it (defaults 2,000 calls and 200 clients on a small machine); ``CRM_BENCH_PARTS`` picks
the parts (``api``, ``fanout``, ``bulk``, comma-separated; ``api,fanout`` by default).
``bulk`` writes ``CRM_BENCH_RECORDS`` finished call records straight into metrics' table (a
bulk load: indexes dropped, one server-side ``INSERT ... SELECT``, indexes rebuilt), then
sends the call-record list and one call at ``CRM_BENCH_RATE`` requests per second (default
500) for ``CRM_BENCH_RATE_SECONDS`` (default 10), open loop, latency counted from when each
request was due."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

import aio_pika
import asyncpg
import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cc_common.bus._rabbit import RabbitBus, dead_letter_queue
from cc_crm_api.adapters.db import event_log
from cc_crm_api.testing import Platform, run_platform
from cc_proto import make_event
from cc_proto.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOutcome,
)

AMQP_URL = os.environ.get("CC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CALLS = int(os.environ.get("CRM_BENCH_CALLS", "2000"))
CLIENTS = int(os.environ.get("CRM_BENCH_CLIENTS", "200"))
PARTS = set(os.environ.get("CRM_BENCH_PARTS", "api,fanout").split(","))
RECORDS = int(os.environ.get("CRM_BENCH_RECORDS", "0"))
RATE = float(os.environ.get("CRM_BENCH_RATE", "500"))
RATE_SECONDS = float(os.environ.get("CRM_BENCH_RATE_SECONDS", "10"))
REQUESTS = 300
STREAM_EVENTS = 50
TENANT = "bench"


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load_calls(publisher: RabbitBus, start: datetime) -> list[str]:
    """Publish offered, answered and ended for each call, as routing would."""
    ids = []
    for n in range(CALLS):
        call_id = f"call-{n:07d}"
        ids.append(call_id)
        at = start + timedelta(seconds=n)
        agent = f"a{n % 50}"
        events = [
            make_event(
                CallOffered(queue="support", caller_number=f"+4930{n:07d}", customer_id=f"C{n}"),
                tenant=TENANT,
                call_id=call_id,
                occurred_at=at,
            ),
            make_event(
                CallAnswered(
                    queue="support", agent_leg_uuid=f"leg-{n}", wait_seconds=5, ring_seconds=2
                ),
                tenant=TENANT,
                call_id=call_id,
                agent_id=agent,
                occurred_at=at + timedelta(seconds=7),
            ),
            make_event(
                CallEnded(
                    outcome=CallOutcome.ANSWERED,
                    hangup_cause="NORMAL_CLEARING",
                    queue="support",
                    duration_seconds=120,
                    talk_seconds=113,
                ),
                tenant=TENANT,
                call_id=call_id,
                agent_id=agent,
                occurred_at=at + timedelta(seconds=120),
            ),
        ]
        await asyncio.gather(*(publisher.publish(e) for e in events))
    return ids


async def wait_records(client: httpx.AsyncClient, start: datetime) -> None:
    """Wait until metrics holds every call's record."""
    params = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
    async with asyncio.timeout(600):
        while True:
            found, cursor = 0, None
            while True:
                page = await client.get(
                    "/v1/calls",
                    params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})},
                )
                body = page.json()
                found += sum(1 for r in body["items"] if r["outcome"])
                cursor = body["next_cursor"]
                if not cursor:
                    break
            if found >= CALLS:
                return
            await asyncio.sleep(1.0)


async def timed(
    client: httpx.AsyncClient, path: str, params: dict[str, str] | None = None
) -> float:
    started = time.perf_counter()
    reply = await client.get(path, params=params)
    spent = time.perf_counter() - started
    if reply.status_code != 200:
        raise RuntimeError(f"{path}: {reply.status_code} {reply.text[:200]}")
    return spent * 1000


async def api_latency(p: Platform, start: datetime, ids: list[str]) -> None:
    async with p.client() as client:
        await wait_records(client, start)
        end = (start + timedelta(days=1)).isoformat()
        lists = []
        for n in range(REQUESTS):
            offset = start + timedelta(seconds=(n * 7) % CALLS)
            lists.append(
                await timed(
                    client, "/v1/calls", {"start": offset.isoformat(), "end": end, "limit": "100"}
                )
            )
        ones = [await timed(client, f"/v1/calls/{ids[(n * 13) % CALLS]}") for n in range(REQUESTS)]
    report("crm_api.call_list_100.p50", statistics.median(lists), "ms")
    report("crm_api.call_list_100.p99", percentile(lists, 0.99), "ms")
    report("crm_api.one_call.p50", statistics.median(ones), "ms")
    report("crm_api.one_call.p99", percentile(ones, 0.99), "ms")


BULK_INSERT = """
INSERT INTO metrics.call_records (
    tenant, call_id, first_event_at, last_event_at, queue, offered_at, final_queue,
    final_queue_at, ended_queue, priority, caller_number, customer_id, direction, queued,
    agent_offers, agent_missed, legs, agent_id, agent_leg_uuid, answered_at, wait_seconds,
    ring_seconds, left_queue_at, abandoned, callback_requested, hold_count, hold_seconds,
    talk_seconds, wrap_up_seconds, transfers, ended_at, duration_seconds, outcome, hangup_cause,
    hangup_by, qa_evaluations, qa_score_sum, qa_scores)
SELECT $1, 'bulk-' || lpad(n::text, 8, '0'), at, at + interval '120 s', 'support', at,
    'support', at, 'support', 0, '+4931' || lpad(n::text, 8, '0'), 'B' || n, 'inbound', true,
    1, 0, '[]'::json, 'a' || (n % 50), 'leg-' || n, at + interval '7 s', 5, 2,
    at + interval '7 s', false, false, 0, 0, 113, 0, 0, at + interval '120 s', 120,
    'answered', 'NORMAL_CLEARING', 'caller', 0, 0, '{}'::json
FROM (SELECT n, $2::timestamptz + n * interval '1 s' AS at
      FROM generate_series(1, $3::bigint) AS n) AS calls
"""


async def bulk_load(dsn: str, start: datetime) -> datetime:
    """Write RECORDS finished call records straight into metrics' table, as a bulk load does:
    its indexes dropped, one server-side INSERT ... SELECT, the indexes built again, analyzed.
    They lie in the RECORDS seconds before ``start``; return where they begin."""
    since = start - timedelta(seconds=RECORDS + 1)
    connection = await asyncpg.connect(dsn)
    try:
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'metrics'"
            " AND tablename = 'call_records' AND indexname NOT LIKE '%pkey'"
        )
        began = time.monotonic()
        for index in indexes:
            await connection.execute(f'DROP INDEX metrics."{index["indexname"]}"')
        await connection.execute(BULK_INSERT, TENANT, since, RECORDS)
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("ANALYZE metrics.call_records")
        report("crm_api.bulk_load.records", RECORDS, "records")
        report("crm_api.bulk_load.seconds", time.monotonic() - began, "s")
    finally:
        await connection.close()
    return since


async def timed_from(
    client: httpx.AsyncClient, due: float, path: str, params: dict[str, str] | None
) -> float | None:
    """One request's latency from when it was due (a late send counts: no coordinated
    omission); None for a failure (an error status or no answer in time), counted apart."""
    try:
        reply = await client.get(path, params=params)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    return (time.monotonic() - due) * 1000


async def at_rate(
    p: Platform, name: str, request: Callable[[int], tuple[str, dict[str, str] | None]]
) -> None:
    """Send RATE requests per second for RATE_SECONDS, open loop; report latency and throughput."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(
        base_url=p.url, headers=p.auth(), timeout=60, limits=limits
    ) as client:
        began = time.monotonic()
        pending = []
        for n in range(int(RATE * RATE_SECONDS)):
            due = began + n / RATE
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            path, params = request(n)
            pending.append(asyncio.create_task(timed_from(client, due, path, params)))
        answers = await asyncio.gather(*pending)
        elapsed = time.monotonic() - began
    latencies = [ms for ms in answers if ms is not None]
    report(f"crm_api.at_rate.{name}.offered", RATE, "requests/s")
    report(f"crm_api.at_rate.{name}.throughput", len(latencies) / elapsed, "requests/s")
    report(f"crm_api.at_rate.{name}.failed", len(answers) - len(latencies), "requests")
    if latencies:
        report(f"crm_api.at_rate.{name}.p50", statistics.median(latencies), "ms")
        report(f"crm_api.at_rate.{name}.p99", percentile(latencies, 0.99), "ms")


async def bulk_latency(p: Platform, since: datetime) -> None:
    """The call list (a page of 100 from a random point) and one call, over RECORDS records."""
    end = (since + timedelta(seconds=RECORDS + 1)).isoformat()

    def page(n: int) -> tuple[str, dict[str, str] | None]:
        offset = since + timedelta(seconds=(n * 7919) % RECORDS)
        return "/v1/calls", {"start": offset.isoformat(), "end": end, "limit": "100"}

    def one(n: int) -> tuple[str, dict[str, str] | None]:
        return f"/v1/calls/bulk-{1 + (n * 7919) % RECORDS:08d}", None

    await at_rate(p, "call_list_100", page)
    await at_rate(p, "one_call", one)


async def wait_logged(p: Platform, count: int) -> None:
    """Wait until the crm-api has recorded ``count`` events (the loaded calls' backlog)."""
    async with asyncio.timeout(900):
        while True:
            async with p.db.session() as session:
                found = (await session.execute(select(func.count(event_log.c.seq)))).scalar_one()
            if found >= count:
                return
            await asyncio.sleep(0.5)


async def listen_all(
    url: str, headers: dict[str, str], count: int, want: int, ready: Connection
) -> list[tuple[str, float]]:
    """``count`` streams of the whole tenant; each event's receipt time per stream."""
    received: list[tuple[str, float]] = []
    connected = 0

    async def listen(client: httpx.AsyncClient) -> None:
        nonlocal connected
        async with client.stream("GET", "/v1/events") as stream:
            connected += 1
            if connected == count:
                ready.send("connected")
            got = 0
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                now = time.monotonic()
                doc = json.loads(line[5:])
                if doc["type"] == "agent.state_changed" and doc["data"]["reason"].startswith("r"):
                    received.append((doc["event_id"], now))
                    got += 1
                    if got == want:
                        return

    limits = httpx.Limits(max_connections=count + 10)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=120, limits=limits
    ) as client:
        await asyncio.gather(*(listen(client) for _ in range(count)))
    return received


def clients_process(
    url: str, headers: dict[str, str], count: int, want: int, pipe: Connection
) -> None:
    """The screens, in a process of their own: their reading is not the server's work."""
    received = asyncio.run(listen_all(url, headers, count, want, pipe))
    pipe.send(received)
    pipe.close()


async def fan_out(p: Platform, publisher: RabbitBus, loading_since: float) -> None:
    """CLIENTS streams of the whole tenant, read by another process (as screens elsewhere
    would be); each event's publish-to-receipt lag per client (one monotonic clock). First,
    how fast the recorder logged the loaded calls' events (published as fast as the bus takes
    them, three per call)."""
    await wait_logged(p, 3 * CALLS)
    report(
        "crm_api.event_log.recorded_per_second",
        3 * CALLS / (time.monotonic() - loading_since),
        "events/s",
    )
    sent: dict[str, float] = {}
    async with p.db.session() as session:
        newest = (await session.execute(select(func.max(event_log.c.seq)))).scalar_one() or 0
    resume = {"Last-Event-ID": str(newest)}  # so no event is missed while clients connect
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    screens = multiprocessing.get_context("spawn").Process(
        target=clients_process,
        args=(p.url, {**p.auth(), **resume}, CLIENTS, STREAM_EVENTS, theirs),
    )
    screens.start()
    try:
        async with asyncio.timeout(120):
            assert await asyncio.to_thread(ours.recv) == "connected"
        started = time.monotonic()
        for n in range(STREAM_EVENTS):
            change = AgentStateChanged(
                from_state=AgentState.AVAILABLE, to_state=AgentState.BREAK, reason=f"r{n}"
            )
            event = make_event(change, tenant=TENANT, agent_id=f"a{n % 50}")
            sent[str(event.id)] = time.monotonic()
            await publisher.publish(event)
        async with asyncio.timeout(300):
            received: list[tuple[str, float]] = await asyncio.to_thread(ours.recv)
        elapsed = max(at for _, at in received) - started
    finally:
        await asyncio.to_thread(screens.join, 30)
    lags = [(at - sent[event_id]) * 1000 for event_id, at in received]
    report("crm_api.sse_fanout.clients", CLIENTS, "clients")
    report("crm_api.sse_fanout.delivered_per_second", len(received) / elapsed, "events/s")
    report("crm_api.sse_fanout.lag.p50", statistics.median(lags), "ms")
    report("crm_api.sse_fanout.lag.p99", percentile(lags, 0.99), "ms")


async def main() -> None:
    name = f"bench_crm_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(DATABASE_URL))
    await admin.execute(f'CREATE DATABASE "{name}"')
    exchange = f"bench-crm-{uuid.uuid4().hex[:8]}"
    publisher = RabbitBus(AMQP_URL, service="bench", exchange=exchange)
    try:
        await publisher.connect()
        async with run_platform(
            database_url=make_url(DATABASE_URL).set(database=name).render_as_string(False),
            amqp_url=AMQP_URL,
            exchange=exchange,
            metrics_queue=f"{exchange}.metrics",
            tenant=TENANT,
            crm_bootstrap_key=secrets.token_urlsafe(32),
            crm_rate_limit_per_second=100_000,
            crm_rate_limit_burst=100_000,
            crm_event_poll_seconds=0.1,
        ) as p:
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
            loading_since = time.monotonic()
            ids = await load_calls(publisher, start)
            if "api" in PARTS:
                await api_latency(p, start, ids)
            if "bulk" in PARTS and RECORDS:
                since = await bulk_load(_dsn(DATABASE_URL, name), start)
                await bulk_latency(p, since)
            if "fanout" in PARTS:
                await fan_out(p, publisher, loading_since)
    finally:
        await publisher.close()
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            for queue in (f"{exchange}.metrics", f"{exchange}.crm-api", f"{exchange}.recording"):
                for each in (queue, dead_letter_queue(queue)):
                    channel = await connection.channel()
                    await channel.queue_delete(each)
            for ex in (exchange, f"{exchange}.dlx"):
                channel = await connection.channel()
                await channel.exchange_delete(ex)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
