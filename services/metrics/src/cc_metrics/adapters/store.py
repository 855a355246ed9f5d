"""Persisting what the engine produced, and reading back the state it continues from.

Interval facts are *added* to their rows (``col = col + excluded.col``), so writes commute and a
late event simply adds to an old interval. Records, segments and agent statuses are replaced by
the engine's latest version. Everything is written in the caller's transaction, together with
the processed-event ids, so an event counts exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import dialect_insert
from cc_metrics.adapters.db import (
    agent_hours,
    agent_intervals,
    agent_segments,
    agent_status,
    call_records,
    campaign_hours,
    campaign_intervals,
    known_queues,
    queue_hours,
    queue_intervals,
)
from cc_metrics.core.agents import AgentStatus, Segment
from cc_metrics.core.engine import NO_QUEUE, Outcome
from cc_metrics.core.facts import (
    AGENT_FACT_NAMES,
    CAMPAIGN_FACT_NAMES,
    QUEUE_FACT_NAMES,
    Facts,
    add_facts,
)
from cc_metrics.core.intervals import hour_start
from cc_metrics.core.records import RECORD_FIELDS, CallRecord
from cc_proto.events import AgentState


def utc_at(value: datetime) -> datetime:
    """Return ``value`` in UTC; SQLite hands datetimes back without their zone (stored UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc(value: datetime | None) -> datetime | None:
    """Return ``value`` in UTC, or None."""
    return None if value is None else utc_at(value)


_STATEMENTS: dict[tuple[str, str, str], Any] = {}


def _upsert_statement(
    session: AsyncSession, table: Table, keys: Sequence[str], update: str, add: Sequence[str] = ()
) -> Any:
    """Return the (cached) upsert for a table; see :func:`_build_upsert`."""
    cache_key = (session.get_bind().dialect.name, table.name, update)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        statement = _STATEMENTS[cache_key] = _build_upsert(session, table, keys, update, add)
    return statement


def _build_upsert(
    session: AsyncSession, table: Table, keys: Sequence[str], update: str, add: Sequence[str]
) -> Any:
    """Return an insert that, on a key clash, adds ``add`` columns and keeps or replaces the rest.

    Executed with a list of rows, SQLAlchemy batches it ("insertmanyvalues") from one compiled
    statement, so a batch of any size costs a few round trips and no recompilation.
    """
    statement = dialect_insert(session, table)
    if update == "nothing":
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    excluded = statement.excluded
    changes: dict[str, Any] = {c: table.c[c] + excluded[c] for c in add}
    if update == "replace":
        others = (c.name for c in table.columns if c.name not in keys and c.name not in add)
        changes.update({name: excluded[name] for name in others})
    if "team" in table.c and update == "add":
        changes["team"] = func.coalesce(excluded.team, table.c.team)
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)


async def _upsert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: str,
    add: Sequence[str] = (),
) -> None:
    if rows:
        await session.execute(_upsert_statement(session, table, keys, update, add), list(rows))


class MetricsStore:
    """Reads and writes one tenant's metrics tables inside a caller's session."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def write(
        self, session: AsyncSession, outcomes: Iterable[Outcome], now: datetime
    ) -> None:
        """Persist a batch of outcomes: facts added, latest records and statuses written."""
        batch = _Batch(outcomes)
        await self._write_facts(session, batch)
        if batch.records:
            rows = [self._record_row(r) for r in batch.records.values()]
            await _upsert(session, call_records, rows, ("tenant", "call_id"), "replace")
        if batch.segments:
            rows = [self._segment_row(s) for s in batch.segments.values()]
            keys = ("tenant", "agent_id", "started_at")
            await _upsert(session, agent_segments, rows, keys, "replace")
        if batch.agents:
            rows = [self._status_row(a) for a in batch.agents.values()]
            await _upsert(session, agent_status, rows, ("tenant", "agent_id"), "replace")
        queues = {q for q, _ in batch.queue_facts if q != NO_QUEUE}
        if queues:
            rows = [
                {"tenant": self.tenant, "queue": q, "first_seen_at": now} for q in sorted(queues)
            ]
            await _upsert(session, known_queues, rows, ("tenant", "queue"), "nothing")

    async def _write_facts(self, session: AsyncSession, batch: _Batch) -> None:
        """Add the batch's facts to the 15-minute rows and to the hour rows."""
        keyed = (
            ((queue_intervals, queue_hours), "queue", QUEUE_FACT_NAMES, batch.queue_facts),
            ((campaign_intervals, campaign_hours), "campaign", CAMPAIGN_FACT_NAMES,
             batch.campaign_facts),
        )  # fmt: skip
        for tables, column, names, facts_by_key in keyed:
            for table, hours in zip(tables, (False, True), strict=True):
                rows = [
                    {"tenant": self.tenant, column: key, "interval_start": at,
                     **_all(names, facts)}
                    for (key, at), facts in sorted(_by_time(facts_by_key, hours).items())
                ]  # fmt: skip
                keys = ("tenant", column, "interval_start")
                await _upsert(session, table, rows, keys, "add", names)
        for table, hours in ((agent_intervals, False), (agent_hours, True)):
            rows = [
                {"tenant": self.tenant, "agent_id": agent, "interval_start": at,
                 "team": batch.teams.get(agent), **_all(AGENT_FACT_NAMES, facts)}
                for (agent, at), facts in sorted(_by_time(batch.agent_facts, hours).items())
            ]  # fmt: skip
            keys = ("tenant", "agent_id", "interval_start")
            await _upsert(session, table, rows, keys, "add", AGENT_FACT_NAMES)

    def _record_row(self, record: CallRecord) -> dict[str, Any]:
        row = {name: getattr(record, name) for name in RECORD_FIELDS}
        row.pop("tenant")
        for name, value in row.items():
            if isinstance(value, datetime):
                row[name] = utc(value)
        row["legs"] = {leg: utc_at(at).isoformat() for leg, at in record.legs.items()}
        row["qa_scores"] = {eid: list(score) for eid, score in record.qa_scores.items()}
        return {"tenant": self.tenant, **row}

    def _segment_row(self, s: Segment) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "agent_id": s.agent_id,
            "started_at": utc(s.start),
            "ended_at": utc(s.end),
            "state": s.state.value,
            "team": s.team,
            "reason": s.reason,
            "provisional": s.provisional,
        }

    def _status_row(self, a: AgentStatus) -> dict[str, Any]:
        row = {f.name: getattr(a, f.name) for f in fields(a)}
        for name, value in row.items():
            if isinstance(value, datetime):
                row[name] = utc(value)
        row.update(tenant=self.tenant, state=a.state.value, queues=list(a.queues))
        return row

    # --- reading state back ------------------------------------------------------------------

    async def load_records(
        self, session: AsyncSession, call_ids: Iterable[str]
    ) -> list[CallRecord]:
        """Return the stored records of these calls."""
        ids = sorted(set(call_ids))
        found: list[CallRecord] = []
        for start in range(0, len(ids), 1000):
            query = select(call_records).where(
                call_records.c.tenant == self.tenant,
                call_records.c.call_id.in_(ids[start : start + 1000]),
            )
            found += [record_from_row(row._mapping) for row in await session.execute(query)]
        return found

    async def load_waiting(self, session: AsyncSession, since: datetime) -> list[CallRecord]:
        """Return calls offered since ``since`` that have neither left the queue nor ended."""
        c = call_records.c
        query = select(call_records).where(
            c.tenant == self.tenant,
            c.offered_at >= utc(since),
            c.left_queue_at.is_(None),
            c.ended_at.is_(None),
        )
        return [record_from_row(row._mapping) for row in await session.execute(query)]

    async def load_agents(self, session: AsyncSession) -> list[AgentStatus]:
        """Return every agent's last known status."""
        query = select(agent_status).where(agent_status.c.tenant == self.tenant)
        return [status_from_row(row._mapping) for row in await session.execute(query)]

    async def load_segments(self, session: AsyncSession, since: datetime) -> list[Segment]:
        """Return segments that ended after ``since`` (the engine dedupes against them)."""
        s = agent_segments.c
        query = select(agent_segments).where(s.tenant == self.tenant, s.ended_at >= utc(since))
        return [segment_from_row(row._mapping) for row in await session.execute(query)]

    async def known_queues(self, session: AsyncSession) -> list[str]:
        """Return every queue that has ever had a call."""
        query = select(known_queues.c.queue).where(known_queues.c.tenant == self.tenant)
        return list((await session.execute(query)).scalars())


def _by_time(
    facts: dict[tuple[str, datetime], Facts], hours: bool
) -> dict[tuple[str, datetime], Facts]:
    """Return the facts keyed by UTC interval start, or summed per UTC hour."""
    out: dict[tuple[str, datetime], Facts] = {}
    for (key, at), values in facts.items():
        when = hour_start(at) if hours else utc_at(at)
        add_facts(out.setdefault((key, when), {}), values)
    return out


def _all(names: Sequence[str], facts: Facts) -> dict[str, float]:
    return {name: facts.get(name, 0.0) for name in names}


class _Batch:
    """Outcomes of a batch folded together: one row per key."""

    def __init__(self, outcomes: Iterable[Outcome]) -> None:
        self.queue_facts: dict[tuple[str, datetime], Facts] = {}
        self.agent_facts: dict[tuple[str, datetime], Facts] = {}
        self.campaign_facts: dict[tuple[str, datetime], Facts] = {}
        self.teams: dict[str, str] = {}
        self.records: dict[str, CallRecord] = {}
        self.segments: dict[tuple[str, datetime], Segment] = {}
        self.agents: dict[str, AgentStatus] = {}
        for outcome in outcomes:
            self._fold(outcome)

    def _fold(self, outcome: Outcome) -> None:
        for qk, facts in outcome.queue_facts.items():
            add_facts(self.queue_facts.setdefault((qk.queue, qk.interval), {}), facts)
        for ck, facts in outcome.campaign_facts.items():
            add_facts(self.campaign_facts.setdefault((ck.campaign, ck.interval), {}), facts)
        for ak, facts in outcome.agent_facts.items():
            add_facts(self.agent_facts.setdefault((ak.agent_id, ak.interval), {}), facts)
        self.teams.update(outcome.agent_teams)
        for record in outcome.records:
            self.records[record.call_id] = record
        for segment in outcome.segments:
            self.segments[segment.key] = segment
        if outcome.agent is not None:
            self.agents[outcome.agent.agent_id] = outcome.agent


def record_from_row(row: Any) -> CallRecord:
    """Return the record a ``call_records`` row holds."""
    values = {name: row[name] for name in RECORD_FIELDS if name != "tenant"}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = utc(value)
    values["legs"] = {leg: datetime.fromisoformat(at) for leg, at in (row["legs"] or {}).items()}
    values["qa_scores"] = {
        eid: (int(revision), float(score))
        for eid, (revision, score) in (row["qa_scores"] or {}).items()
    }
    values["agent_parts"] = {
        agent: [float(seconds) for seconds in part]
        for agent, part in (row["agent_parts"] or {}).items()
    }
    return CallRecord(tenant=row["tenant"], **values)


def status_from_row(row: Any) -> AgentStatus:
    """Return the agent status an ``agent_status`` row holds."""
    return AgentStatus(
        agent_id=row["agent_id"],
        team=row["team"],
        state=AgentState(row["state"]),
        since=utc(row["since"]),
        reason=row["reason"],
        queues=tuple(row["queues"] or ()),
        updated_at=utc(row["updated_at"]),
        login_at=utc(row["login_at"]),
        logout_at=utc(row["logout_at"]),
        last_call_id=row["last_call_id"],
        last_call_at=utc(row["last_call_at"]),
    )


def segment_from_row(row: Any) -> Segment:
    """Return the segment an ``agent_segments`` row holds."""
    start, end = utc(row["started_at"]), utc(row["ended_at"])
    if start is None or end is None:
        raise ValueError("a stored segment has both ends")
    return Segment(
        row["agent_id"],
        row["team"],
        AgentState(row["state"]),
        start,
        end,
        row["reason"],
        row["provisional"],
    )
