"""Reading reports: interval facts summed into buckets, plus schedule, cost and in-progress time.

Reports in buckets of an hour or more, over whole hours, in a zone with whole-hour offsets,
read the hour tables (a quarter of the rows); others read the 15-minute tables. On PostgreSQL
the buckets are formed in SQL (``date_trunc`` in the report's zone; sub-hour
buckets by the local minute), so a year of intervals comes back as a few hundred rows. On SQLite
(the one-machine default) intervals are summed per 15 minutes in SQL and bucketed by
:func:`cc_metrics.core.intervals.bucket_start`; a test holds both paths to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Integer, cast, extract, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from cc_metrics.adapters.db import (
    agent_hours,
    agent_intervals,
    agent_segments,
    agent_status,
    campaign_hours,
    campaign_intervals,
    costs,
    known_queues,
    queue_hours,
    queue_intervals,
    schedules,
)
from cc_metrics.adapters.store import segment_from_row, status_from_row, utc, utc_at
from cc_metrics.core.agents import Segment
from cc_metrics.core.facts import (
    AGENT_FACT_NAMES,
    CAMPAIGN_FACT_NAMES,
    QUEUE_FACT_NAMES,
    Facts,
    add_facts,
    state_seconds,
)
from cc_metrics.core.intervals import Granularity, bucket_start, split_span, whole_hours
from cc_metrics.core.kpis import Scope
from cc_metrics.core.workforce import (
    Activity,
    CostEntry,
    ScheduleEntry,
    cost_facts,
    workforce_facts,
)
from cc_proto.events import AgentState

TENANT_KEY = "all"
Buckets = dict[tuple[str, datetime | None], Facts]

_TENANT_AGENT_FACTS = tuple(n for n in AGENT_FACT_NAMES if n not in QUEUE_FACT_NAMES)
"""Facts only agent rows have (state time, missed offers), added to the tenant's queue facts."""


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A checked report request."""

    scope: Scope
    keys: tuple[str, ...] | None
    start: datetime
    end: datetime
    granularity: Granularity
    zone: tzinfo
    zone_name: str
    now: datetime


def _zone_sql(zone_name: str, column: Any, granularity: Granularity) -> ColumnElement[Any]:
    """Return the PostgreSQL expression for the bucket that holds ``column``."""
    minutes = {Granularity.MIN30: 30, Granularity.HOUR: 60}
    if granularity is Granularity.MIN15:
        return column  # type: ignore[no-any-return]
    if granularity in minutes:
        local_minute = cast(extract("minute", func.timezone(zone_name, column)), Integer)
        into = func.make_interval(0, 0, 0, 0, 0, local_minute % minutes[granularity])
        return column - into  # type: ignore[no-any-return]
    unit = {Granularity.DAY: "day", Granularity.WEEK: "week", Granularity.MONTH: "month"}
    local = func.date_trunc(unit[granularity], func.timezone(zone_name, column))
    return func.timezone(zone_name, local)


class ReportReader:
    """Answers report questions for one tenant."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def unknown_keys(
        self, session: AsyncSession, scope: Scope, keys: Sequence[str], configured: Iterable[str]
    ) -> list[str]:
        """Return the requested queues, agents or teams this tenant has never had."""
        missing = []
        for key in keys:
            if scope is Scope.QUEUE and key in set(configured):
                continue
            if not await self._exists(session, scope, key):
                missing.append(key)
        return missing

    async def _exists(self, session: AsyncSession, scope: Scope, key: str) -> bool:
        if scope is Scope.QUEUE:
            t = known_queues
            found = select(t.c.queue).where(t.c.tenant == self.tenant, t.c.queue == key)
            return (await session.execute(found.limit(1))).first() is not None
        if scope is Scope.CAMPAIGN:
            c = campaign_intervals.c
            found = select(c.campaign).where(c.tenant == self.tenant, c.campaign == key)
            return (await session.execute(found.limit(1))).first() is not None
        column = "agent_id" if scope is Scope.AGENT else "team"
        for table in (agent_status, agent_intervals):
            query = select(table.c[column]).where(
                table.c.tenant == self.tenant, table.c[column] == key
            )
            if (await session.execute(query.limit(1))).first() is not None:
                return True
        return False

    async def buckets(self, session: AsyncSession, q: ReportQuery) -> Buckets:
        """Return the facts of every (key, bucket) with data in the range."""
        postgres = session.get_bind().dialect.name == "postgresql"
        hourly = whole_hours(q.start, q.end, q.granularity, q.zone)
        queues, agents = (
            (queue_hours, agent_hours) if hourly else (queue_intervals, agent_intervals)
        )
        out: Buckets = {}
        if q.scope is Scope.CAMPAIGN:
            table = campaign_hours if hourly else campaign_intervals
            await self._add_rows(session, q, table, CAMPAIGN_FACT_NAMES, postgres, out)
            return out
        if q.scope in (Scope.QUEUE, Scope.TENANT):
            await self._add_rows(session, q, queues, QUEUE_FACT_NAMES, postgres, out)
        if q.scope in (Scope.AGENT, Scope.TEAM, Scope.TENANT):
            names = _TENANT_AGENT_FACTS if q.scope is Scope.TENANT else AGENT_FACT_NAMES
            await self._add_rows(session, q, agents, names, postgres, out)
            await self._add_agent_inputs(session, q, out)
        await self._add_costs(session, q, out)
        return out

    def _key_column(self, q: ReportQuery, table: Any) -> ColumnElement[Any]:
        if q.scope is Scope.QUEUE:
            return table.c.queue  # type: ignore[no-any-return]
        if q.scope is Scope.AGENT:
            return table.c.agent_id  # type: ignore[no-any-return]
        if q.scope is Scope.CAMPAIGN:
            return table.c.campaign  # type: ignore[no-any-return]
        if q.scope is Scope.TEAM:
            return func.coalesce(table.c.team, "")
        return literal(TENANT_KEY)

    async def _add_rows(
        self,
        session: AsyncSession,
        q: ReportQuery,
        table: Any,
        names: Sequence[str],
        postgres: bool,
        out: Buckets,
    ) -> None:
        key = self._key_column(q, table)
        total = q.granularity is Granularity.TOTAL
        bucket: ColumnElement[Any] = table.c.interval_start
        if postgres and not total:
            bucket = _zone_sql(q.zone_name, table.c.interval_start, q.granularity)
        groups = [key] if total and postgres else [key, bucket]
        labels = (
            [key.label("key")] if len(groups) == 1 else [key.label("key"), bucket.label("bucket")]
        )
        sums = [func.sum(table.c[name]).label(name) for name in names]
        query = select(*labels, *sums).where(
            table.c.tenant == self.tenant,
            table.c.interval_start >= utc(q.start),
            table.c.interval_start < utc(q.end),
        )
        if q.keys is not None and q.scope is not Scope.TENANT:
            query = query.where(key.in_(q.keys))
        query = query.group_by(*groups)
        for row in await session.execute(query):
            facts = {name: float(row._mapping[name] or 0.0) for name in names}
            at = None if total else utc(row._mapping.get("bucket"))
            if at is not None and not postgres:
                at = bucket_start(at, q.granularity, q.zone)
            add_facts(out.setdefault((row._mapping["key"], at), {}), facts)

    def _bucket(self, q: ReportQuery, interval: datetime) -> datetime | None:
        if q.granularity is Granularity.TOTAL:
            return None
        return bucket_start(interval, q.granularity, q.zone)

    async def _agents(self, session: AsyncSession, q: ReportQuery) -> dict[str, str]:
        """Return agent id to the key its facts go under (itself, its team, or the tenant)."""
        query = select(agent_status.c.agent_id, agent_status.c.team).where(
            agent_status.c.tenant == self.tenant
        )
        keys = {}
        for agent_id, team in await session.execute(query):
            key = {Scope.AGENT: agent_id, Scope.TEAM: team or ""}.get(q.scope, TENANT_KEY)
            if q.keys is None or q.scope is Scope.TENANT or key in q.keys:
                keys[agent_id] = key
        return keys

    async def _add_agent_inputs(self, session: AsyncSession, q: ReportQuery, out: Buckets) -> None:
        """Add the stretch of state in progress and the schedule facts (adherence, attendance)."""
        agents = await self._agents(session, q)
        if not agents:
            return
        for agent_id, facts_by_interval in (await self._in_progress(session, q, agents)).items():
            for interval, facts in facts_by_interval.items():
                add_facts(out.setdefault((agents[agent_id], self._bucket(q, interval)), {}), facts)
        plan = await self._schedule(session, q, list(agents))
        if not plan:
            return
        segments = await self._segments(session, q, list(agents))
        for (agent_id, interval), facts in workforce_facts(plan, segments).items():
            if q.start <= interval < q.end:
                add_facts(out.setdefault((agents[agent_id], self._bucket(q, interval)), {}), facts)

    async def _in_progress(
        self, session: AsyncSession, q: ReportQuery, agents: dict[str, str]
    ) -> dict[str, dict[datetime, Facts]]:
        """Return state time not yet closed by an event: from the last change until now."""
        query = select(agent_status).where(
            agent_status.c.tenant == self.tenant, agent_status.c.agent_id.in_(list(agents))
        )
        found: dict[str, dict[datetime, Facts]] = {}
        for row in await session.execute(query):
            status = status_from_row(row._mapping)
            if status.state is AgentState.LOGGED_OUT or status.since is None:
                continue
            begin, finish = max(status.since, q.start), min(q.now, q.end)
            for interval, seconds in split_span(begin, finish) if begin < finish else []:
                facts = found.setdefault(status.agent_id, {}).setdefault(interval, {})
                add_facts(facts, {state_seconds(status.state): seconds})
        return found

    async def _schedule(
        self, session: AsyncSession, q: ReportQuery, agent_ids: list[str]
    ) -> list[ScheduleEntry]:
        s = schedules.c
        query = select(schedules).where(
            s.tenant == self.tenant,
            s.agent_id.in_(agent_ids),
            s.starts_at < utc(q.end),
            s.ends_at > utc(q.start),
        )
        return [
            ScheduleEntry(r.agent_id, utc_at(r.starts_at), utc_at(r.ends_at), Activity(r.activity))
            for r in await session.execute(query)
        ]

    async def _segments(
        self, session: AsyncSession, q: ReportQuery, agent_ids: list[str]
    ) -> list[Segment]:
        s = agent_segments.c
        query = select(agent_segments).where(
            s.tenant == self.tenant,
            s.agent_id.in_(agent_ids),
            s.started_at < utc(q.end),
            s.ended_at > utc(q.start),
        )
        closed = [segment_from_row(r._mapping) for r in await session.execute(query)]
        status = select(agent_status).where(
            agent_status.c.tenant == self.tenant, agent_status.c.agent_id.in_(agent_ids)
        )
        for row in await session.execute(status):
            st = status_from_row(row._mapping)
            if st.state is not AgentState.LOGGED_OUT and st.since and st.since < q.now:
                closed.append(Segment(st.agent_id, st.team, st.state, st.since, q.now))
        return closed

    async def _add_costs(self, session: AsyncSession, q: ReportQuery, out: Buckets) -> None:
        scope = {Scope.QUEUE: "queue", Scope.TEAM: "team", Scope.TENANT: "tenant"}.get(q.scope)
        if scope is None:
            return
        c = costs.c
        query = select(costs).where(
            c.tenant == self.tenant,
            c.scope == scope,
            c.starts_at < utc(q.end),
            c.ends_at > utc(q.start),
        )
        if q.keys is not None and q.scope is not Scope.TENANT:
            query = query.where(c.key.in_(q.keys))
        entries = [
            CostEntry(r.scope, r.key, utc_at(r.starts_at), utc_at(r.ends_at), r.amount)
            for r in await session.execute(query)
        ]
        for (_, key, interval), amount in cost_facts(entries).items():
            if q.start <= interval < q.end:
                target = TENANT_KEY if q.scope is Scope.TENANT else key
                add_facts(out.setdefault((target, self._bucket(q, interval)), {}), {"cost": amount})


def event_fact_names(scope: Scope) -> tuple[str, ...]:
    """Return the event facts a scope's rows carry (absent ones are zero, not missing)."""
    if scope is Scope.QUEUE:
        return QUEUE_FACT_NAMES
    if scope is Scope.CAMPAIGN:
        return CAMPAIGN_FACT_NAMES
    if scope is Scope.TENANT:
        return (*QUEUE_FACT_NAMES, *_TENANT_AGENT_FACTS)
    return AGENT_FACT_NAMES
