"""The bus consumer: every event through the engine, persisted in batches, acked after commit.

Handlers run concurrently (the bus hands out up to ``concurrency`` events at once); each one
queues its event and waits for the batch that carries it to commit. A batch is one transaction:
claim the event ids (a redelivered id is skipped), apply the new events, write the facts, the
records and the statuses. Only then are the handlers released, so the bus acks, and the live
metrics move. If the transaction fails the engine forgets its memory and reloads it from the
database, which holds the truth; an unreachable database is waited out (the events stay unacked
and keep their delivery count), while data the database refuses is retried event by event so
only the event at fault is redelivered and, at the delivery limit, dead-lettered.

``cc_metrics_consumer_up`` is 1 only while events are being counted: the last batch committed
and the bus subscription reports no problem (connected, workers alive, not stuck with events
waiting). A watcher re-evaluates it every second, so it drops during a broker outage too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cc_common.bus import Consumer, Rejected
from cc_common.db import Database, claim_events
from cc_common.logging import get_logger
from cc_metrics.adapters.db import kit
from cc_metrics.adapters.store import MetricsStore
from cc_metrics.core.engine import MetricsEngine, Outcome, Unprocessable
from cc_metrics.exposition import LiveMetrics
from cc_proto import Envelope, EventData

log = get_logger(__name__)

CONSUMER = "metrics"
STATE_HORIZON = timedelta(hours=6)
SEGMENT_HORIZON = timedelta(days=2)
PRUNE_EVERY = timedelta(minutes=1)
RETRY_FIRST, RETRY_MAX = 0.2, 10.0
WATCH_SECONDS = 1.0


def _unreachable(exc: BaseException) -> bool:
    """Return True when the database could not be reached (retry), not when it refused the data."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return False


@dataclass(slots=True)
class _Pending:
    event: Envelope[EventData]
    done: asyncio.Future[None]


class MetricsConsumer:
    """Applies events to the engine and the database in group-committed batches."""

    def __init__(
        self,
        *,
        db: Database,
        engine: MetricsEngine,
        live: LiveMetrics,
        clock: Callable[[], datetime],
        batch_max: int = 256,
        linger_seconds: float = 0.002,
    ) -> None:
        self.db = db
        self.engine = engine
        self.live = live
        self.store = MetricsStore(engine.tenant)
        self._clock = clock
        self._batch_max = batch_max
        self._linger = linger_seconds
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = clock()
        self._subscription: Consumer | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._storing = True

    async def load(self) -> None:
        """Give the engine what it needs to continue: agents, recent segments, waiting calls."""
        now = self._clock()
        async with self.db.session() as session:
            self.engine.load_agents(await self.store.load_agents(session))
            self.engine.load_segments(
                await self.store.load_segments(session, now - SEGMENT_HORIZON)
            )
            self.engine.restore_waiting(await self.store.load_waiting(session, now - STATE_HORIZON))
            for queue in await self.store.known_queues(session):
                self.engine.live.queue(queue)
        self.live.ensure_labels()

    def start(self) -> None:
        """Run the batch writer in the background."""
        self._task = asyncio.create_task(self._run(), name="metrics-batches")

    def watch(self, subscription: Consumer) -> None:
        """Keep ``cc_metrics_consumer_up`` true to the subscription and the batch writer."""
        self._subscription = subscription
        self._show_health()
        self._watcher = asyncio.create_task(self._watch(), name="metrics-consumer-watch")

    def problem(self) -> str | None:
        """Return why events are not being counted now (None while they are)."""
        if not self._storing:
            return "events cannot be stored (database failing)"
        if self._subscription is None:
            return "not subscribed to the bus"
        return self._subscription.problem()

    async def check(self) -> None:
        """Readiness: raise while events are not being counted."""
        problem = self.problem()
        if problem is not None:
            raise RuntimeError(problem)

    def _show_health(self) -> None:
        self.live.consumer_up.set(0 if self.problem() else 1)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            self._show_health()

    async def stop(self) -> None:
        """Stop the batch writer; events still waiting are redelivered by the bus."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self._subscription = None
        self.live.consumer_up.set(0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for pending in self._pending:
            pending.done.cancel()
        self._pending.clear()

    async def handle(self, event: Envelope[EventData]) -> None:
        """Bus handler: return once the event is committed (or raise to have it redelivered)."""
        try:
            self.engine.validate(event)
        except Unprocessable as exc:
            self.live.rejected.inc()
            raise Rejected(exc.reason) from None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(event, done))
        self._wakeup.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if len(self._pending) < self._batch_max and self._linger:
                await asyncio.sleep(self._linger)
            batch, self._pending = (
                self._pending[: self._batch_max],
                self._pending[self._batch_max :],
            )
            if not self._pending:
                self._wakeup.clear()
            if batch:
                await self._settle(batch)

    async def _settle(self, batch: list[_Pending]) -> None:
        """Commit a batch; wait out an unreachable database; single out an event that breaks it."""
        delay = RETRY_FIRST
        while True:
            try:
                outcomes = await self.apply_batch([p.event for p in batch])
            except Exception as exc:  # memory is rebuilt from storage either way
                transient = _unreachable(exc)
                log.exception("metrics.batch_failed", events=len(batch), transient=transient)
                self._storing = False
                self.live.consumer_up.set(0)  # alerts fire while nothing is being counted
                await self._recover()
                if transient:
                    await asyncio.sleep(delay)  # the events stay unacked: nothing is lost
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                await self._isolate(batch, exc)
                return
            self._release(batch, outcomes)
            return

    async def _isolate(self, batch: list[_Pending], exc: Exception) -> None:
        """Retry a failed batch event by event, so only the event that breaks it fails."""
        if len(batch) == 1:
            if not batch[0].done.done():
                batch[0].done.set_exception(exc)  # the bus redelivers it, then dead-letters it
            return
        for pending in batch:
            await self._settle([pending])

    def _release(self, batch: list[_Pending], outcomes: list[Outcome]) -> None:
        now = self._clock()
        self._storing = True
        self._show_health()
        for outcome in outcomes:
            self.live.record(outcome, now=now)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(None)
        self._maybe_prune(now)

    async def apply_batch(self, events: list[Envelope[EventData]]) -> list[Outcome]:
        """Apply and persist events in one transaction; return the outcomes (duplicates too)."""
        now = self._clock()
        outcomes: list[Outcome] = []
        async with self.db.session() as session:
            ids = [event.id for event in events]
            new = await claim_events(
                session, table=kit.processed_events, consumer=CONSUMER, event_ids=ids, now=now
            )
            fresh = []
            for event in events:
                if event.id in new:
                    new.discard(event.id)  # a second copy in the same batch is a duplicate
                    fresh.append(event)
                else:
                    outcomes.append(Outcome(event, duplicate=True))
            needed = set().union(*(self.engine.calls_needed(e) for e in fresh)) if fresh else set()
            self.engine.load_records(await self.store.load_records(session, needed))
            outcomes += [self.engine.apply(event) for event in fresh]
            await self.store.write(session, outcomes, now)
        return outcomes

    async def _recover(self) -> None:
        self.engine.forget()
        with contextlib.suppress(Exception):  # a database still down: the next batch retries
            await self.load()

    def _maybe_prune(self, now: datetime) -> None:
        if now - self._last_prune >= PRUNE_EVERY:
            self.engine.prune(now)
            self._last_prune = now
