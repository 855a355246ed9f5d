"""The in-process broker: RabbitMQ's semantics for one process and no network.

Brokers are looked up by name (``memory://local``) so every service app mounted in one process
shares one broker, as they would share one RabbitMQ. Messages travel as bytes, so contracts are
checked exactly as they are on RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cc_common.bus._base import (
    MAX_MESSAGE_BYTES,
    REASON_HEADER,
    SOURCE_QUEUE_HEADER,
    Bus,
    Consumer,
    DeadLetter,
    Handler,
    check_size,
    decode,
    encode,
    failure_reason,
    is_permanent,
)
from cc_common.bus._topic import topic_matches
from cc_common.logging import get_logger

log = get_logger(__name__)


@dataclass(slots=True)
class _Message:
    body: bytes
    routing_key: str
    returns: int = 0
    """How often the message came back unacked: RabbitMQ's x-delivery-count."""


@dataclass(slots=True)
class _Queue:
    name: str
    bindings: set[tuple[str, str]] = field(default_factory=set)
    ready: deque[_Message] = field(default_factory=deque)
    dead: deque[DeadLetter] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, message: _Message, *, front: bool = False) -> None:
        (self.ready.appendleft if front else self.ready.append)(message)
        self.wakeup.set()


class MemoryBroker:
    """Exchanges and durable queues living in this process."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}

    def declare(self, queue: str, exchange: str, bindings: Sequence[str]) -> _Queue:
        """Create the queue if needed and add its bindings (idempotent, like queue.declare)."""
        q = self.queues.setdefault(queue, _Queue(queue))
        q.bindings.update((exchange, pattern) for pattern in bindings)
        return q

    def route(self, exchange: str, body: bytes, key: str) -> None:
        """Deliver a copy to every queue with a matching binding; unroutable messages vanish."""
        for queue in self.queues.values():
            if any(ex == exchange and topic_matches(p, key) for ex, p in queue.bindings):
                queue.put(_Message(body, key))


_BROKERS: dict[str, MemoryBroker] = {}


def broker_named(name: str) -> MemoryBroker:
    """Return the process-wide broker of that name, creating it on first use."""
    return _BROKERS.setdefault(name, MemoryBroker())


class _MemoryConsumer(Consumer):
    def __init__(self, workers: list[asyncio.Task[None]]) -> None:
        self._workers = workers

    def problem(self) -> str | None:
        if any(task.done() for task in self._workers):
            return "consumer has stopped"
        return None

    async def cancel(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class MemoryBus(Bus):
    """A :class:`Bus` over a :class:`MemoryBroker`."""

    def __init__(
        self,
        broker: MemoryBroker,
        *,
        exchange: str = "cc.events",
        delivery_limit: int = 5,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._broker = broker
        self._max_bytes = max_message_bytes
        self._exchange = exchange
        self._delivery_limit = delivery_limit
        self._consumers: list[_MemoryConsumer] = []

    async def publish(self, event: Any) -> None:
        body, key = encode(event, self._max_bytes)
        self._broker.route(self._exchange, body, key)

    async def publish_raw(self, body: bytes, *, routing_key: str) -> None:
        check_size(body, self._max_bytes)
        self._broker.route(self._exchange, body, routing_key)

    async def consume(
        self, queue: str, *, bindings: Sequence[str], handler: Handler, concurrency: int = 1
    ) -> Consumer:
        q = self._broker.declare(queue, self._exchange, bindings)
        workers = [
            asyncio.create_task(self._work(q, handler), name=f"bus:{queue}")
            for _ in range(concurrency)
        ]
        consumer = _MemoryConsumer(workers)
        self._consumers.append(consumer)
        return consumer

    async def _work(self, queue: _Queue, handler: Handler) -> None:
        while True:
            while not queue.ready:
                queue.wakeup.clear()
                await queue.wakeup.wait()
            message = queue.ready.popleft()
            try:
                await handler(decode(message.body, self._max_bytes))
            except asyncio.CancelledError:
                message.returns += 1
                queue.put(message, front=True)
                raise
            except Exception as exc:
                self._fail(queue, message, exc)

    def _fail(self, queue: _Queue, message: _Message, exc: Exception) -> None:
        if is_permanent(exc) or message.returns >= self._delivery_limit:
            reason = failure_reason(exc)
            log.warning(
                "bus.dead_lettered",
                queue=queue.name,
                routing_key=message.routing_key,
                reason=reason,
            )
            headers = {REASON_HEADER: reason, SOURCE_QUEUE_HEADER: queue.name}
            queue.dead.append(DeadLetter(message.body, message.routing_key, reason, headers))
            return
        log.warning(
            "bus.handler_failed", queue=queue.name, attempt=message.returns + 1, error=repr(exc)
        )
        message.returns += 1
        queue.put(message, front=True)

    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        q = self._broker.queues.get(queue)
        if q is None:
            return []
        return [q.dead.popleft() for _ in range(min(limit, len(q.dead)))]

    async def ping(self) -> None:
        problems = [p for p in (c.problem() for c in self._consumers) if p is not None]
        if problems:
            raise ConnectionError("; ".join(problems))

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
