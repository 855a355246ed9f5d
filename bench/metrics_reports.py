"""Reports query latency over ten million call records in PostgreSQL.

Ten million calls (a year, one every 3 s, 20 queues, 300 agents) are generated on the server with
``generate_series`` into a throwaway schema, and their 15-minute queue intervals are aggregated
from them, as the service would have written them. Then the report and CDR queries the API runs
are timed (median of several runs). The schema is dropped at the end. One JSON line per figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from cc_metrics.adapters.cdrs import CdrFilter, get_record, list_records
from cc_metrics.adapters.db import SCHEMA, metadata
from cc_metrics.adapters.reports import ReportQuery, ReportReader, event_fact_names
from cc_metrics.core.facts import QUEUE_FACT_NAMES, abandoned_within, answered_within
from cc_metrics.core.intervals import Granularity
from cc_metrics.core.kpis import Scope
from cc_metrics.core.reports import report_rows
from cc_metrics.core.thresholds import WAIT_BOUNDS, Thresholds

DATABASE_URL = os.environ.get(
    "CC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CALLS = 10_000_000
PARTS = 2
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
RUNS = 5


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit}), flush=True)


def _dsn() -> str:
    return make_url(DATABASE_URL).set(drivername="postgresql").render_as_string(False)


_CALL_ROW = """
INSERT INTO {s}.call_records (tenant, call_id, first_event_at, last_event_at, queue, offered_at,
  final_queue, queued, agent_offers, agent_missed, legs, agent_id, answered_at, wait_seconds,
  ring_seconds, abandoned, callback_requested, hold_count, hold_seconds, talk_seconds,
  wrap_up_seconds, transfers, ended_at, duration_seconds, outcome, qa_evaluations, qa_score_sum)
SELECT 'bench', 'call-' || g, t, t + interval '5 min', q, t, q, g % 3 = 0, 1, 0, '{{}}'::json,
  CASE WHEN g % 10 <> 0 THEN 'agent-' || (g % 300) END,
  CASE WHEN g % 10 <> 0 THEN t + (g % 40) * interval '1 second' END, (g % 40)::float8, 3.0,
  g % 10 = 0, false, 0, (g % 4) * 5.0, 180.0 + g % 120, 30.0, (g % 50 = 0)::int,
  t + interval '5 min', 300.0, CASE WHEN g % 10 = 0 THEN 'abandoned' ELSE 'answered' END, 0, 0.0
FROM generate_series($1::bigint, $2::bigint) g,
  LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '3 seconds' AS t,
                  'q' || (g % 20) AS q) x
"""


_WITHIN = {5: 0.45, 10: 0.65, 15: 0.8, 20: 0.88, 30: 0.95, 45: 0.98, 60: 1, 90: 1, 120: 1}
_ABANDONED_WITHIN = {5: 0.3, 10: 0.4, 15: 0.5, 20: 0.6, 30: 0.8, 45: 1, 60: 1, 90: 1, 120: 1}


def _interval_sql(schema: str) -> str:
    """Write the queue intervals of those calls: 15 per queue per 15 minutes, varied a little."""
    answered, abandoned = "(13 + (i + q) % 2)", "(2 - (i + q) % 2)"
    exprs = {
        "offered": "15", "queued": "4 + (i + q) % 3", "answered": answered,
        "answered_wait_seconds": f"{answered} * (6 + i % 5)", "ring_seconds": f"{answered} * 3",
        "abandoned": abandoned, "abandoned_wait_seconds": f"{abandoned} * 25",
        "queue_exits": "15",
        "queue_exit_wait_seconds": f"{answered} * (6 + i % 5) + {abandoned} * 25",
        "blocked": "(i % 50 = 0)::int", "handled": answered,
        "talk_seconds": f"{answered} * (170 + i % 30)", "hold_seconds": f"{answered} * 8",
        "acw_seconds": f"{answered} * 30", "transferred": "(i % 9 = 0)::int",
        "fcr_resolved": f"{answered} - 2", "csat_answers": "3", "csat_satisfied": "2",
        "nps_answers": "3", "nps_promoters": "1", "nps_detractors": "1",
    }  # fmt: skip
    for bound in WAIT_BOUNDS:
        exprs[answered_within(bound)] = f"round({answered} * {_WITHIN[bound]})"
        exprs[abandoned_within(bound)] = f"round({abandoned} * {_ABANDONED_WITHIN[bound]})"
    columns = ", ".join(QUEUE_FACT_NAMES)
    values = ", ".join(exprs.get(name, "0") for name in QUEUE_FACT_NAMES)
    intervals = CALLS // 300  # a call every 3 s: 300 per 15 minutes, 15 in each of 20 queues
    return (
        f"INSERT INTO {schema}.queue_intervals (tenant, queue, interval_start, {columns}) "
        f"SELECT 'bench', 'q' || q, timestamptz '2024-01-01 00:00:00+00' + i * interval '15 min',"
        f" {values} FROM generate_series(0, 19) q, generate_series(0, {intervals - 1}) i"
    )


def _hours_sql(schema: str) -> str:
    """Sum the intervals per UTC hour, as the service writes them."""
    sums = ", ".join(f"sum({name})" for name in QUEUE_FACT_NAMES)
    return (
        f"INSERT INTO {schema}.queue_hours (tenant, queue, interval_start, "
        f"{', '.join(QUEUE_FACT_NAMES)}) SELECT tenant, queue, date_trunc('hour', interval_start),"
        f" {sums} FROM {schema}.queue_intervals GROUP BY 1, 2, 3"
    )


async def generate(schema: str) -> None:
    """Create the tables in ``schema`` and fill them on the server, in parallel parts."""
    engine = create_async_engine(DATABASE_URL)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        mapped = await conn.execution_options(schema_translate_map={SCHEMA: schema})
        await mapped.run_sync(metadata.create_all)
    await engine.dispose()
    admin = await asyncpg.connect(_dsn())
    try:
        quoted = f'"{schema}"'
        indexes = await admin.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = "
            "'call_records'",
            schema,
        )
        await admin.execute(f"ALTER TABLE {quoted}.call_records SET UNLOGGED")
        await admin.execute(f"ALTER TABLE {quoted}.call_records DROP CONSTRAINT call_records_pkey")
        for index in indexes:
            await admin.execute(f'DROP INDEX IF EXISTS {quoted}."{index["indexname"]}"')
        step = CALLS // PARTS
        parts = [
            _run(_CALL_ROW.format(s=quoted), n * step + 1, (n + 1) * step) for n in range(PARTS)
        ]
        await asyncio.gather(*parts, _run(_interval_sql(quoted)))
        builds = [_run(i["indexdef"]) for i in indexes if not i["indexname"].endswith("pkey")]
        primary = f"ALTER TABLE {quoted}.call_records ADD PRIMARY KEY (tenant, call_id)"
        await asyncio.gather(_run(primary), *builds, _run(_hours_sql(quoted)))
        for table in ("call_records", "queue_intervals", "queue_hours"):
            await admin.execute(f"ANALYZE {quoted}.{table}")
    finally:
        await admin.close()


async def _run(statement: str, *args: object) -> None:
    connection = await asyncpg.connect(_dsn())
    try:
        await connection.execute("SET synchronous_commit = off")
        await connection.execute(statement, *args)
    finally:
        await connection.close()


async def timed(name: str, work: Callable[[], Awaitable[object]]) -> None:
    """Report the median latency of ``work`` over several runs (after one warm-up)."""
    await work()
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    report(name, statistics.median(samples), "ms")


async def measure(schema: str) -> None:
    engine = create_async_engine(DATABASE_URL).execution_options(
        schema_translate_map={SCHEMA: schema}
    )
    reader, thresholds = ReportReader("bench"), Thresholds()
    now = YEAR_START + timedelta(days=366)

    async def kpis(scope: Scope, keys: tuple[str, ...] | None, days: int, grain: Granularity,
                   zone: str, start_day: int = 0) -> int:  # fmt: skip
        start = YEAR_START + timedelta(days=start_day)
        query = ReportQuery(scope, keys, start, start + timedelta(days=days), grain,
                            ZoneInfo(zone), zone, now)  # fmt: skip
        async with AsyncSession(engine) as session:
            buckets = await reader.buckets(session, query)
        rows = report_rows(buckets, scope=scope, thresholds=thresholds,
                           event_facts=event_fact_names(scope))  # fmt: skip
        return len(rows)

    async def cdr_pages() -> None:
        start = YEAR_START + timedelta(days=200)
        found = CdrFilter(start, start + timedelta(days=30), queue="q10", outcome="abandoned")
        async with AsyncSession(engine) as session:
            page, cursor = await list_records(session, "bench", found)
            for _ in range(4):
                page, cursor = await list_records(session, "bench", replace(found, after=cursor))
            if len(page) != 100 or cursor is None:
                raise RuntimeError("the fifth page should be full")

    async def cdr_lookup() -> None:
        async with AsyncSession(engine) as session:
            if await get_record(session, "bench", "call-7654321") is None:
                raise RuntimeError("call-7654321 should exist")

    try:
        await timed(
            "metrics_report_queue_month_hourly",
            lambda: kpis(Scope.QUEUE, ("q3",), 30, Granularity.HOUR, "UTC", 150),
        )
        await timed(
            "metrics_report_20_queues_year_daily_berlin",
            lambda: kpis(Scope.QUEUE, None, 365, Granularity.DAY, "Europe/Berlin"),
        )
        await timed(
            "metrics_report_tenant_year_weekly",
            lambda: kpis(Scope.TENANT, None, 365, Granularity.WEEK, "America/New_York"),
        )
        await timed(
            "metrics_report_tenant_year_total",
            lambda: kpis(Scope.TENANT, None, 365, Granularity.TOTAL, "UTC"),
        )
        await timed("metrics_cdr_filtered_page_of_100_fifth_page", cdr_pages)
        await timed("metrics_cdr_lookup_by_call_id", cdr_lookup)
    finally:
        await engine.dispose()  # fmt: skip


async def main() -> None:
    schema = f"bench_metrics_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    try:
        await generate(schema)
        report("metrics_reports_generate_10m_calls", time.perf_counter() - started, "s")
        await measure(schema)
    finally:
        await _run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
