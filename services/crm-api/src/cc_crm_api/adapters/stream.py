"""Following the event log: one tail per process fans new rows out to connected screens.

A subscriber registers before it reads its backlog (rows after its Last-Event-ID), then takes
live rows, skipping what the backlog already gave: nothing is missed and nothing repeated.
Rows reach the log in sequence order (see :mod:`cc_crm_api.adapters.events`), so following it
by sequence number never skips a row; replicas find each other's rows by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from cc_common.aio import wait_for_wakeup
from cc_common.db import Database
from cc_common.logging import get_logger
from cc_crm_api.adapters.db import event_log

log = get_logger(__name__)

BATCH = 1000
BACKLOG_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which events a stream carries: one agent's, one team's, or (neither) the tenant's."""

    agent_id: str | None = None
    team: str | None = None

    def matches(self, row: Any) -> bool:
        """Return True for a log row this stream carries."""
        if self.agent_id is not None:
            return bool(row.agent_id == self.agent_id)
        if self.team is not None:
            return bool(row.team == self.team)
        return True

    def where(self) -> list[Any]:
        """Return the SQL conditions of this filter."""
        if self.agent_id is not None:
            return [event_log.c.agent_id == self.agent_id]
        if self.team is not None:
            return [event_log.c.team == self.team]
        return []


@dataclass(eq=False)
class Subscriber:
    """One connected stream."""

    filter: StreamFilter
    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=10_000)
    )
    overflowed: bool = False


@dataclass(frozen=True, slots=True)
class Gap:
    """Events after the client's last id were pruned from the log before it came back."""

    last_event_id: int
    oldest_kept: int


class EventHub:
    """Tails the event log and hands each new row to the subscribers that want it."""

    def __init__(self, db: Database, tenant: str, *, poll_seconds: float) -> None:
        self._db = db
        self._tenant = tenant
        self._poll = poll_seconds
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_seq = 0

    @property
    def subscribers(self) -> int:
        """Return how many streams are connected to this process."""
        return len(self._subscribers)

    async def start(self) -> None:
        """Begin at the end of the log and follow it in the background."""
        async with self._db.session() as session:
            newest = (await session.execute(select(func.max(event_log.c.seq)))).scalar_one()
        self.last_seq = int(newest or 0)
        self._task = asyncio.create_task(self._run(), name="crm-event-hub")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def notify(self) -> None:
        """Wake the tail: this process just recorded an event."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                fetched = await self._tail()
            except Exception:  # the tail must outlive a database blip
                log.exception("events.tail_failed")
                fetched = 0
                await asyncio.sleep(1.0)
            if fetched < BATCH:
                self._wake.clear()
                await wait_for_wakeup(self._wake, self._poll)

    async def _tail(self) -> int:
        query = (
            select(event_log.c.seq, event_log.c.agent_id, event_log.c.team, event_log.c.document)
            .where(event_log.c.tenant == self._tenant, event_log.c.seq > self.last_seq)
            .order_by(event_log.c.seq)
            .limit(BATCH)
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        for row in rows:
            self.last_seq = row.seq
            for subscriber in list(self._subscribers):
                if subscriber.overflowed or not subscriber.filter.matches(row):
                    continue
                try:
                    subscriber.queue.put_nowait((row.seq, row.document))
                except asyncio.QueueFull:
                    subscriber.overflowed = True  # it reconnects and resumes from its last id
        return len(rows)

    async def follow(
        self, stream: StreamFilter, last_event_id: int | None, *, keepalive: float
    ) -> AsyncIterator[tuple[int, dict[str, Any]] | Gap | None]:
        """Yield the events after ``last_event_id`` (None: only new ones), then live ones.

        None is yielded after ``keepalive`` seconds without an event, so idle connections
        carry something and a client that went away is noticed.
        """
        subscriber = Subscriber(stream)
        self._subscribers.add(subscriber)
        try:
            sent = self.last_seq if last_event_id is None else last_event_id
            if last_event_id is not None:
                async for item in self._backlog(stream, last_event_id):
                    if isinstance(item, tuple):
                        sent = item[0]
                    yield item
            while not subscriber.overflowed:
                try:
                    async with asyncio.timeout(keepalive):
                        seq, document = await subscriber.queue.get()
                except TimeoutError:
                    yield None
                    continue
                if seq > sent:
                    sent = seq
                    yield seq, document
        finally:
            self._subscribers.discard(subscriber)

    async def _backlog(
        self, stream: StreamFilter, after: int
    ) -> AsyncIterator[tuple[int, dict[str, Any]] | Gap]:
        tenant = event_log.c.tenant == self._tenant
        async with self._db.session() as session:
            oldest = (
                await session.execute(select(func.min(event_log.c.seq)).where(tenant))
            ).scalar_one()
            query = (
                select(event_log.c.seq, event_log.c.document)
                .where(tenant, event_log.c.seq > after, *stream.where())
                .order_by(event_log.c.seq)
                .limit(BACKLOG_LIMIT)
            )
            rows = (await session.execute(query)).all()
        if oldest is not None and oldest > after + 1:
            yield Gap(after, int(oldest))
        for seq, document in rows:
            yield seq, document
