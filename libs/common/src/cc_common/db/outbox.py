"""The transactional outbox: an event is written with the state change, then relayed to the bus.

Publishing straight after a commit loses the event if the process dies in between; writing it to
the outbox in the same transaction cannot. The relay publishes a batch in order, awaits the
broker's confirms for the whole batch together, and marks the rows published; a crash (or a
failed publish) before the mark re-publishes the batch, which idempotent consumers absorb.
Published rows are kept for ``keep_published`` and pruned at most once per ``prune_every``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.aio import wait_for_wakeup
from cc_common.bus import MAX_MESSAGE_BYTES, Bus, MessageTooLarge
from cc_common.db._database import Database
from cc_common.logging import get_logger
from cc_proto import EncodedEvent, Envelope, routing_key

log = get_logger(__name__)


class Outbox:
    """Writes events into a service's outbox table inside the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._insert = table.insert()

    async def add(self, session: AsyncSession, event: Envelope[Any]) -> None:
        """Stage an event for publishing; it is published only if the transaction commits.

        An event too large for the bus raises :class:`MessageTooLarge` here, so the change that
        made it fails with it instead of the relay meeting it later.
        """
        await self.add_rows(session, [self.row(event)])

    def row(self, event: Envelope[Any]) -> dict[str, Any]:
        """Encode an event as its outbox row (raising :class:`MessageTooLarge` as ``add`` does).

        Encoding apart from writing lets a service encode while it decides and write many
        events' rows in one statement later (:meth:`add_rows`).
        """
        return self.encoded_row(EncodedEvent(event.id, routing_key(event), event.to_json()))

    def encoded_row(self, event: EncodedEvent) -> dict[str, Any]:
        """The outbox row of an event already encoded (:func:`cc_proto.encode_event`)."""
        if len(event.body) > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(len(event.body), MAX_MESSAGE_BYTES)
        return {
            "event_id": event.id,
            "routing_key": event.routing_key,
            "body": event.body,
            "created_at": datetime.now(UTC),
        }

    async def add_rows(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Stage encoded events, in order, with one statement compiled once."""
        if rows:
            await session.execute(self._insert, rows)


class OutboxRelay:
    """Publishes outbox rows in order; run one per service process."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        outbox: Outbox,
        *,
        batch: int = 200,
        idle_poll: float = 0.5,
        keep_published: timedelta = timedelta(hours=1),
        prune_every: float = 1.0,
    ) -> None:
        self._db = db
        self._bus = bus
        self._table = outbox.table
        self._batch = batch
        self._idle_poll = idle_poll
        self._keep = keep_published
        self._prune_every = prune_every
        self._pruned_at: float | None = None
        """When (monotonic seconds) published rows were last pruned: once per batch cost a
        DELETE per batch, while retention is measured in hours."""
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Tell the relay new rows were committed, so it does not wait for its poll."""
        self._wakeup.set()

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        async with self._db.session() as session:
            query = select(self._table.c.seq, self._table.c.routing_key, self._table.c.body)
            query = query.where(self._table.c.published_at.is_(None)).order_by(self._table.c.seq)
            query = query.limit(self._batch)
            if self._db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            refused = await self._bus.publish_raw_batch([(r.body, r.routing_key) for r in rows])
            done = []
            for row, too_large in zip(rows, refused, strict=True):
                if too_large is not None:  # kept, and loud, but never blocking the rest
                    log.error(
                        "outbox.too_large",
                        seq=row.seq,
                        routing_key=row.routing_key,
                        error=str(too_large),
                    )
                    continue
                done.append(row.seq)
            if done:
                now = datetime.now(UTC)
                await session.execute(
                    update(self._table).where(self._table.c.seq.in_(done)).values(published_at=now)
                )
                await self._prune(session, now)
        return len(done)

    async def _prune(self, session: AsyncSession, now: datetime) -> None:
        """Delete rows published longer ago than ``keep_published``, at most once a period."""
        ticks = time.monotonic()
        if self._pruned_at is not None and ticks - self._pruned_at < self._prune_every:
            return
        await session.execute(
            delete(self._table).where(self._table.c.published_at < now - self._keep)
        )
        self._pruned_at = ticks

    async def run(self) -> None:
        """Relay until stopped; errors are logged and retried after a pause."""
        while not self._stopping:
            try:
                published = await self.relay_once()
            except Exception:  # the relay must outlive a broker or database blip
                log.exception("outbox.relay_failed")
                published = 0
                await asyncio.sleep(1.0)
            if published < self._batch and not self._stopping:
                self._wakeup.clear()
                await wait_for_wakeup(self._wakeup, self._idle_poll)

    def start(self) -> None:
        """Run the relay as a background task."""
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop the background task after its current batch, then flush what is committed.

        Cancelling mid-batch would re-publish rows already on the bus (consumers dedupe them,
        but a clean shutdown should not make work for them); only a stuck relay is cancelled.
        """
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        with contextlib.suppress(Exception):
            while await self.relay_once():
                pass
