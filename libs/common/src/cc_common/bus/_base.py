"""The bus interface shared by the RabbitMQ and in-process implementations."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cc_proto import ContractError, Envelope, EventData, parse_event, routing_key

Handler = Callable[[Envelope[EventData]], Awaitable[None]]
"""Does the work for one event; returns when done (then the message is acked)."""

REASON_HEADER = "x-cc-dead-reason"
SOURCE_QUEUE_HEADER = "x-cc-source-queue"
ROUTING_KEY_HEADER = "x-cc-routing-key"


class Rejected(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message taken out of circulation, with the reason people need to fix it."""

    body: bytes
    routing_key: str
    reason: str
    headers: dict[str, Any] = field(default_factory=dict)


class Consumer(abc.ABC):
    """A running subscription; cancel it to stop consuming (unacked messages are redelivered)."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Stop taking messages; a message being handled is returned to the queue."""


class Bus(abc.ABC):
    """Publish events and consume them from a service's own durable queue."""

    @abc.abstractmethod
    async def publish(self, event: Envelope[Any]) -> None:
        """Publish and return once the broker has confirmed it holds the event."""

    @abc.abstractmethod
    async def publish_raw(self, body: bytes, *, routing_key: str) -> None:
        """Publish bytes unchanged: for the outbox relay and for tests of bad input."""

    @abc.abstractmethod
    async def consume(
        self,
        queue: str,
        *,
        bindings: Sequence[str],
        handler: Handler,
        concurrency: int = 1,
    ) -> Consumer:
        """Declare ``queue`` bound to ``bindings`` (topic patterns) and run ``handler`` per event.

        With ``concurrency`` 1, events are handled one at a time in queue order.
        """

    @abc.abstractmethod
    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """Take up to ``limit`` messages out of ``queue``'s dead-letter queue for inspection."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the broker cannot be reached; used by ``/readyz``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consumers and close connections."""

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def encode(event: Envelope[Any]) -> tuple[bytes, str]:
    """Return the wire body and routing key for an event."""
    return event.to_json(), routing_key(event)


def decode(body: bytes) -> Envelope[EventData]:
    """Parse a delivered body; :class:`ContractError` means dead-letter it."""
    return parse_event(body)


def is_permanent(exc: BaseException) -> bool:
    """Return True for failures no retry can fix: broken contracts and handler rejections."""
    return isinstance(exc, ContractError | Rejected)


def failure_reason(exc: BaseException) -> str:
    """Return the reason to record for a message that is being dead-lettered."""
    if isinstance(exc, ContractError | Rejected):
        return exc.reason
    return f"handler failed: {type(exc).__name__}: {exc}"[:1000]


def connect_bus(
    url: str,
    *,
    service: str,
    exchange: str = "cc.events",
    delivery_limit: int = 5,
    prefetch: int = 64,
) -> Bus:
    """Return a bus for ``memory://<name>`` (in-process) or ``amqp://...`` (RabbitMQ)."""
    if url.startswith("memory://"):
        from cc_common.bus._memory import MemoryBus, broker_named

        return MemoryBus(
            broker_named(url.removeprefix("memory://") or "local"),
            exchange=exchange,
            delivery_limit=delivery_limit,
        )
    if url.startswith(("amqp://", "amqps://")):
        from cc_common.bus._rabbit import RabbitBus

        return RabbitBus(
            url,
            service=service,
            exchange=exchange,
            delivery_limit=delivery_limit,
            prefetch=prefetch,
        )
    raise ValueError(
        f"unsupported bus URL scheme: {url.split(':', 1)[0]!r} (use amqp:// or memory://)"
    )
