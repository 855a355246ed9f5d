"""Following the event log: one tail per process fans new rows out to connected screens.

A subscriber registers before it reads its backlog (rows after its Last-Event-ID), then takes
live rows, skipping what the backlog already gave: nothing is missed and nothing repeated.
Rows reach the log in sequence order (see :mod:`cc_crm_api.adapters.events`), so following it
by sequence number never skips a row. A row this process records is pushed to the hub as soon
as it is committed and fanned out without being read back, when it is the next one; otherwise
(another replica recorded the rows between) the tail reads the log. Replicas find each other's
rows by polling.

Fan-out cost is paid once per event, not once per screen: the tail reads each row once, every
subscriber's queue holds the same :class:`LoggedEvent`, whose SSE frame and JSON text are
encoded on first use and shared. A subscriber takes everything waiting in its queue at once, so
a burst reaches a screen in one write rather than one per event. A screen that falls
``QUEUE_LIMIT`` events behind (it stopped reading) is let go, never waited for: its stream
ends and it resumes from its Last-Event-ID out of the log, while the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
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
BACKLOG_CHUNK = 500
QUEUE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which events a stream carries: one agent's, one team's, or (neither) the tenant's."""

    agent_id: str | None = None
    team: str | None = None

    def matches(self, document: dict[str, Any]) -> bool:
        """Return True for an event (its public document) this stream carries."""
        if self.agent_id is not None:
            return bool(document.get("agent_id") == self.agent_id)
        if self.team is not None:
            return bool(document.get("team") == self.team)
        return True

    def where(self) -> list[Any]:
        """Return the SQL conditions of this filter."""
        if self.agent_id is not None:
            return [event_log.c.agent_id == self.agent_id]
        if self.team is not None:
            return [event_log.c.team == self.team]
        return []


@dataclass(eq=False, slots=True)
class LoggedEvent:
    """One log row as streams carry it; encoded once, however many streams carry it."""

    seq: int
    document: dict[str, Any]
    _json: str | None = None
    _sse: bytes | None = None

    def json(self) -> str:
        """Return the event as one JSON object (a WebSocket message, an SSE ``data:``)."""
        if self._json is None:
            self._json = json.dumps({"seq": self.seq, **self.document}, separators=(",", ":"))
        return self._json

    def sse(self) -> bytes:
        """Return the event's Server-Sent Events frame."""
        if self._sse is None:
            frame = f"id: {self.seq}\nevent: {self.document['type']}\ndata: {self.json()}\n\n"
            self._sse = frame.encode()
        return self._sse


@dataclass(eq=False)
class Subscriber:
    """One connected stream."""

    filter: StreamFilter
    queue: asyncio.Queue[LoggedEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT)
    )
    overflowed: bool = False

    def offer(self, event: LoggedEvent) -> None:
        """Queue a live event, or let the stream go if it is too far behind (never wait)."""
        if self.overflowed or not self.filter.matches(event.document):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # it reconnects and resumes from its last id

    def take(self, first: LoggedEvent) -> list[LoggedEvent]:
        """Return ``first`` and every event already waiting behind it."""
        batch = [first]
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch


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
        """Wake the tail: there are rows to read."""
        self._wake.set()

    def push(self, seq: int, document: dict[str, Any]) -> None:
        """Fan out a row this process just committed, or wake the tail if rows came between.

        Rows commit in sequence order, so when ``seq`` follows the last row fanned out, no
        other row can come before it: it goes straight to the streams.
        """
        if seq == self.last_seq + 1:
            self._fan_out(LoggedEvent(seq, document))
        elif seq > self.last_seq:
            self.notify()

    def _fan_out(self, event: LoggedEvent) -> None:
        self.last_seq = event.seq
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    async def _run(self) -> None:
        while True:
            # Cleared before the read, not after: a row recorded while the read runs sets it
            # again and is fetched at once, instead of waiting for the next poll.
            self._wake.clear()
            try:
                fetched = await self._tail()
            except Exception:  # the tail must outlive a database blip
                log.exception("events.tail_failed")
                fetched = 0
                await asyncio.sleep(1.0)
            if fetched < BATCH:
                await wait_for_wakeup(self._wake, self._poll)

    async def _tail(self) -> int:
        query = (
            select(event_log.c.seq, event_log.c.document)
            .where(event_log.c.tenant == self._tenant, event_log.c.seq > self.last_seq)
            .order_by(event_log.c.seq)
            .limit(BATCH)
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        for seq, document in rows:
            if seq > self.last_seq:  # not pushed while the read ran
                self._fan_out(LoggedEvent(seq, document))
        return len(rows)

    async def follow(
        self, stream: StreamFilter, last_event_id: int | None, *, keepalive: float
    ) -> AsyncGenerator[list[LoggedEvent] | Gap | None, None]:
        """Yield the events after ``last_event_id`` (None: only new ones), then live ones.

        Events come in batches, in sequence order: all that were waiting when the stream
        was ready to send, so a slow screen catches up in few writes. None is yielded after
        ``keepalive`` seconds without an event, so idle connections carry something and a
        client that went away is noticed. The iteration ends if the stream fell too far behind.
        """
        subscriber = Subscriber(stream)
        self._subscribers.add(subscriber)
        try:
            sent = self.last_seq if last_event_id is None else last_event_id
            if last_event_id is not None:
                async for item in self._backlog(stream, last_event_id):
                    if isinstance(item, list):
                        sent = item[-1].seq
                    yield item
            while not subscriber.overflowed:
                try:
                    async with asyncio.timeout(keepalive):
                        first = await subscriber.queue.get()
                except TimeoutError:
                    yield None
                    continue
                fresh = [event for event in subscriber.take(first) if event.seq > sent]
                if fresh:
                    sent = fresh[-1].seq
                    yield fresh
        finally:
            self._subscribers.discard(subscriber)

    async def _backlog(
        self, stream: StreamFilter, after: int
    ) -> AsyncIterator[list[LoggedEvent] | Gap]:
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
        events = [LoggedEvent(seq, document) for seq, document in rows]
        for start in range(0, len(events), BACKLOG_CHUNK):
            yield events[start : start + BACKLOG_CHUNK]
