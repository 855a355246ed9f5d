"""Domain events from the bus into the crm-api: the replay log, call contexts, webhook deliveries.

One transaction per event: it is claimed (idempotent against redelivery), given the next log
sequence number under a transaction lock (so rows become visible in sequence order and a
stream that follows the log never skips one), and fanned out to the webhook subscriptions
that want it. The log is bounded: the oldest rows beyond the configured size are pruned.
Once committed, the row is handed to ``on_recorded`` (this process's streams take it from
there, without reading it back) with whether it queued webhook deliveries.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cc_common.db import Database, claim_event, upsert
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


@dataclass(frozen=True, slots=True)
class Recorded:
    """One committed log row: its number, its stored document, whether webhooks want it."""

    seq: int
    document: dict[str, Any]
    deliveries: bool


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
    ) -> None:
        self._db = db
        self._tenant = tenant
        self._log_size = log_size
        self._clock = clock
        self._on_recorded = on_recorded
        self._since_prune = 0

    async def handle(self, event: Envelope[EventData]) -> None:
        """Record one event (a redelivered one changes nothing)."""
        if event.tenant != self._tenant or event.type.split(".")[0] not in STREAMED_AGGREGATES:
            return
        async with self._db.session() as session:
            if not await claim_event(
                session, table=kit.processed_events, consumer=CONSUMER, event_id=event.id
            ):
                return
            if self._db.is_postgres:
                await session.execute(select(func.pg_advisory_xact_lock(LOG_LOCK)))
            recorded = await self._record(session, event)
            self._since_prune += 1
            if self._since_prune >= PRUNE_EVERY:
                self._since_prune = 0
                await self._prune(session)
        self._on_recorded(recorded)

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
