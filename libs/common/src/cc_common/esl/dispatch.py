"""Hand events from the socket reader to handlers on a worker task, never blocking the reader.

FreeSWITCH queues at most 100,000 events per listener and kills a listener that falls behind, so
the reader must keep reading whatever the handlers do. Events go into a bounded buffer: when it
is full the oldest event is dropped and counted (``dropped``), a warning is logged when the buffer
passes its high-water mark, and ``on_overflow(dropped)`` is awaited on the worker before the next
event is handled so the service can reconcile (``show channels as json``) instead of trusting a
picture with holes in it. Handlers run one at a time, in arrival order.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cc_common.esl.event import EslEvent
from cc_common.logging import get_logger

Handler = Callable[[EslEvent], Awaitable[None] | None]
OverflowHook = Callable[[int], Awaitable[None] | None]

DEFAULT_MAX_BUFFERED = 10_000
"""About 30 KB per buffered channel event, so the default bounds the backlog near 300 MB."""

ANY = "*"
"""Handler key that receives every event."""

log = get_logger(__name__)


@dataclass(slots=True)
class DispatchStats:
    """Counters a service can export as metrics."""

    received: int = 0
    delivered: int = 0
    dropped: int = 0
    handler_errors: int = 0
    peak_buffered: int = 0


class EventDispatcher:
    """A bounded drop-oldest buffer between one reader and one handler worker."""

    def __init__(
        self,
        *,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        on_overflow: OverflowHook | None = None,
        name: str = "esl",
    ) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.max_buffered = max_buffered
        self.stats = DispatchStats()
        self._name = name
        self._on_overflow = on_overflow
        self._buffer: deque[EslEvent] = deque()
        self._handlers: dict[str, list[Handler]] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._unreported_drops = 0
        self._warned = False

    @property
    def buffered(self) -> int:
        """Return how many events wait for the worker."""
        return len(self._buffer)

    def on(self, key: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for events whose key (``CHANNEL_PARK``, ``CUSTOM sofia::reinvite``),
        name (``CUSTOM``) or ``*`` matches; return a function that removes it."""
        self._handlers.setdefault(key, []).append(handler)

        def remove() -> None:
            handlers = self._handlers.get(key, [])
            if handler in handlers:
                handlers.remove(handler)

        return remove

    def put(self, event: EslEvent) -> None:
        """Queue one event for the handlers; never blocks, drops the oldest when full."""
        self.stats.received += 1
        buffer = self._buffer
        buffer.append(event)
        size = len(buffer)
        if size > self.max_buffered:
            buffer.popleft()
            size -= 1
            self.stats.dropped += 1
            self._unreported_drops += 1
            if self._unreported_drops == 1:
                log.warning("esl.events_dropped", connection=self._name, buffered=size)
        if size > self.stats.peak_buffered:
            self.stats.peak_buffered = size
        if not self._warned and size >= self.max_buffered * 8 // 10:
            self._warned = True
            log.warning(
                "esl.event_backlog_high",
                connection=self._name,
                buffered=size,
                limit=self.max_buffered,
            )
        self._idle.clear()
        self._wakeup.set()

    def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name=f"{self._name}-events"
            )

    async def stop(self) -> None:
        """Stop the worker; events still buffered are discarded."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        self._buffer.clear()
        self._idle.set()

    async def drain(self) -> None:
        """Wait until every buffered event has been handled."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            if not self._buffer:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._unreported_drops:
                await self._report_overflow()
            await self.deliver(self._buffer.popleft())
            if len(self._buffer) < self.max_buffered * 4 // 10:
                self._warned = False

    async def _report_overflow(self) -> None:
        dropped, self._unreported_drops = self._unreported_drops, 0
        log.warning("esl.events_lost", connection=self._name, dropped=dropped)
        if self._on_overflow is not None:
            try:
                result = self._on_overflow(dropped)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("esl.overflow_hook_failed", connection=self._name)

    async def deliver(self, event: EslEvent) -> None:
        """Run every matching handler for one event, isolating their failures."""
        key = event.key
        name = event.name
        handlers = list(self._handlers.get(key, ()))
        if name != key:
            handlers += self._handlers.get(name, ())
        handlers += self._handlers.get(ANY, ())
        for handler in handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.stats.handler_errors += 1
                log.exception("esl.handler_failed", connection=self._name, event_key=key)
        self.stats.delivered += 1
