"""Domain events from the bus into the crm-api: the replay log, call contexts, webhook deliveries.

Events are group-committed: each bus handler queues its event and waits until the transaction
that carries it commits (only then does the bus ack it). One writer takes what is waiting
(up to ``BATCH_MAX``, after a short linger) into one transaction: the events are claimed
(idempotent against redelivery), given the next log sequence numbers in arrival order under a
transaction lock (so rows become visible in sequence order, a batch all at once, and a stream
that follows the log never skips one), and fanned out to the webhook subscriptions that want
them. A batch the database refuses is split in halves and retried, so only the event at fault fails
(and is redelivered, then dead-lettered, by the bus). The log is bounded: the oldest rows beyond
the configured size are pruned. Once committed, each row is handed to ``on_recorded`` in
sequence order (this process's streams take it from there, without reading it back) with
whether it queued webhook deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, claim_events, upsert
from cc_crm_api.adapters import config as store
from cc_crm_api.adapters.db import call_contexts, deliveries, event_log, kit, webhooks
from cc_crm_api.core.events import (
    STREAMED_AGGREGATES,
    CallContext,
    event_agent,
    event_team,
    public_event,
    updated_context,
)
from cc_crm_api.core.webhooks import delivery_id, wants
from cc_proto import Envelope, EventData

CONSUMER = "crm-api"
LOG_LOCK = zlib.crc32(b"cc-crm-api:event-log")
PRUNE_EVERY = 200
BATCH_MAX = 256
"""Events per transaction at most; also how many the bus hands this consumer at once."""
LINGER_SECONDS = 0.002
"""How long a batch that is not full waits for more events (a burst commits together)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One committed log row: its number, its stored document, whether webhooks want it."""

    seq: int
    document: dict[str, Any]
    deliveries: bool


@dataclass(slots=True)
class _Waiting:
    """An event its bus handler is waiting to see committed."""

    event: Envelope[EventData]
    done: asyncio.Future[None]


class EventRecorder:
    """Handles each bus event: log it, update the call's context, queue webhook deliveries."""

    def __init__(
        self,
        db: Database,
        tenant: str,
        *,
        log_size: int,
        clock: Callable[[], datetime],
        on_recorded: Callable[[Recorded], None],
        batch_max: int = BATCH_MAX,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self._db = db
        self._tenant = tenant
        self._log_size = log_size
        self._clock = clock
        self._on_recorded = on_recorded
        self._batch_max = batch_max
        self._linger = linger_seconds
        self._since_prune = 0
        self._waiting: list[_Waiting] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the batch writer in the background."""
        self._task = asyncio.create_task(self._run(), name="crm-event-recorder")

    async def stop(self) -> None:
        """Stop the batch writer; events still waiting stay unacked and are redelivered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for waiting in self._waiting:
            waiting.done.cancel()
        self._waiting.clear()

    async def handle(self, event: Envelope[EventData]) -> None:
        """Bus handler: return once the event is committed (a redelivered one changes nothing)."""
        if event.tenant != self._tenant or event.type.split(".")[0] not in STREAMED_AGGREGATES:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(event, done))
        self._wakeup.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if len(self._waiting) < self._batch_max and self._linger:
                await asyncio.sleep(self._linger)
            batch = [w for w in self._waiting[: self._batch_max] if not w.done.done()]
            self._waiting = self._waiting[self._batch_max :]
            if not self._waiting:
                self._wakeup.clear()
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Waiting]) -> None:
        """Commit a batch, then release its handlers; single out an event that breaks it."""
        try:
            rows = await self._record_batch([w.event for w in batch])
        except Exception as exc:  # the bus retries, then dead-letters, the event at fault
            if len(batch) == 1:
                if not batch[0].done.done():
                    batch[0].done.set_exception(exc)
                return
            half = len(batch) // 2  # halves, in order: the rest commits in few transactions
            await self._commit(batch[:half])
            await self._commit(batch[half:])
            return
        for row in rows:
            self._on_recorded(row)
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_result(None)

    async def _record_batch(self, events: list[Envelope[EventData]]) -> list[Recorded]:
        async with self._db.session() as session:
            fresh = await claim_events(
                session,
                table=kit.processed_events,
                consumer=CONSUMER,
                event_ids=[e.id for e in events],
            )
            if not fresh:
                return []
            if self._db.is_postgres:
                await session.execute(select(func.pg_advisory_xact_lock(LOG_LOCK)))
            rows = []
            for event in events:
                if event.id in fresh:
                    fresh.discard(event.id)  # the same event twice in a batch: logged once
                    rows.append(await self._record(session, event))
            self._since_prune += len(rows)
            if self._since_prune >= PRUNE_EVERY:
                self._since_prune = 0
                await self._prune(session)
        return rows

    async def _record(self, session: AsyncSession, event: Envelope[EventData]) -> Recorded:
        context = await self._context(session, event)
        agent_id = event_agent(event, context)
        known_team = await store.team_of(session, self._tenant, agent_id) if agent_id else None
        team = event_team(event, known_team)
        if agent_id and event.type.startswith("agent.") and team != known_team:
            await store.remember_team(session, self._tenant, agent_id, team)
        draft = public_event(0, event, agent_id=agent_id, team=team, context=context)
        stored = {k: v for k, v in draft.items() if k != "seq"}
        row = {
            "tenant": self._tenant,
            "event_id": event.id,
            "type": event.type,
            "call_id": event.call_id,
            "agent_id": agent_id,
            "team": team,
            "occurred_at": event.occurred_at,
            "document": stored,
        }
        inserted = await session.execute(insert(event_log).values(row).returning(event_log.c.seq))
        seq = int(inserted.scalar_one())
        queued = await self._queue_deliveries(session, {**draft, "seq": seq})
        return Recorded(seq, stored, queued)

    async def _context(
        self, session: AsyncSession, event: Envelope[EventData]
    ) -> CallContext | None:
        if event.call_id is None:
            return None
        where = (call_contexts.c.tenant == self._tenant, call_contexts.c.call_id == event.call_id)
        stored = (
            await session.execute(select(call_contexts.c.context).where(*where))
        ).scalar_one_or_none()
        before = _context_from(stored) if stored else None
        after = updated_context(before, event)
        if after is not None and after != before:
            values = {
                "tenant": self._tenant,
                "call_id": event.call_id,
                "context": _context_doc(after),
                "updated_at": self._clock(),
            }
            await upsert(session, call_contexts, values, ["tenant", "call_id"])
        return after

    async def _queue_deliveries(self, session: AsyncSession, document: dict[str, Any]) -> bool:
        """Queue a delivery to each subscription that wants the event; return whether any did."""
        query = select(webhooks.c.webhook_id, webhooks.c.events).where(
            webhooks.c.tenant == self._tenant, webhooks.c.enabled.is_(True)
        )
        wanted = [
            w
            for w, patterns in (await session.execute(query)).all()
            if wants(patterns, document["type"])
        ]
        if not wanted:
            return False
        now = self._clock()
        payload = json.dumps(document, separators=(",", ":")).encode()
        rows = [
            {
                "delivery_id": delivery_id(int(now.timestamp() * 1_000_000), uuid.uuid4().hex),
                "tenant": self._tenant,
                "webhook_id": webhook_id,
                "message_id": f"msg_{document['event_id'].replace('-', '')}",
                "event_type": document["type"],
                "event_seq": document["seq"],
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for webhook_id in wanted
        ]
        await session.execute(insert(deliveries), rows)
        return True

    async def _prune(self, session: AsyncSession) -> None:
        newest = (await session.execute(select(func.max(event_log.c.seq)))).scalar_one()
        if newest is not None:
            await session.execute(
                delete(event_log).where(event_log.c.seq <= newest - self._log_size)
            )


def _context_doc(context: CallContext) -> dict[str, Any]:
    doc = asdict(context)
    doc["ivr_selections"] = list(context.ivr_selections)
    return doc


def _context_from(doc: dict[str, Any]) -> CallContext:
    return CallContext(**{**doc, "ivr_selections": tuple(doc.get("ivr_selections") or ())})
