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

MAX_MESSAGE_BYTES = 256 * 1024
"""The largest body the bus publishes or hands to a handler; events are a few hundred bytes."""
MAX_REASON_CHARS = 500
"""A dead-letter reason goes in a message header, and a header must fit in one AMQP frame."""
STALL_SECONDS = 30.0
"""A consumer with messages waiting that settles none for this long is reported stuck."""


class MessageTooLarge(ValueError):
    """A body over the bus's size limit: refused at publish, dead-lettered at consume."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message too large: {size} bytes (limit {limit})")
        self.size = size
        self.limit = limit


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

    def problem(self) -> str | None:
        """Return why this consumer is not making progress (None while it is), for readiness."""
        return None


class Bus(abc.ABC):
    """Publish events and consume them from a service's own durable queue."""

    @abc.abstractmethod
    async def publish(self, event: Envelope[Any]) -> None:
        """Publish and return once the broker has confirmed it holds the event."""

    @abc.abstractmethod
    async def publish_raw(self, body: bytes, *, routing_key: str) -> None:
        """Publish bytes unchanged: for the outbox relay and for tests of bad input."""

    async def publish_raw_batch(
        self, messages: Sequence[tuple[bytes, str]]
    ) -> list[MessageTooLarge | None]:
        """Publish ``(body, routing_key)`` pairs in order; return once all are confirmed.

        A body too large for the bus is not published: its slot in the result holds the
        refusal (the others hold None). Any other failure raises, and then no message of the
        batch is known to be held (an at-least-once sender sends them all again). This
        default publishes one at a time; a broker with confirms awaits them together.
        """
        refused: list[MessageTooLarge | None] = []
        for body, key in messages:
            try:
                await self.publish_raw(body, routing_key=key)
            except MessageTooLarge as exc:
                refused.append(exc)
            else:
                refused.append(None)
        return refused

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
        """Raise if the broker cannot be reached or a consumer is stuck; used by ``/readyz``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consumers and close connections."""

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def check_size(body: bytes, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """Return ``body`` if it fits the bus; raise :class:`MessageTooLarge` if not."""
    if len(body) > limit:
        raise MessageTooLarge(len(body), limit)
    return body


def encode(event: Envelope[Any], limit: int = MAX_MESSAGE_BYTES) -> tuple[bytes, str]:
    """Return the wire body and routing key for an event (too large: MessageTooLarge)."""
    return check_size(event.to_json(), limit), routing_key(event)


def decode(body: bytes, limit: int = MAX_MESSAGE_BYTES) -> Envelope[EventData]:
    """Parse a delivered body; :class:`ContractError` means dead-letter it."""
    if len(body) > limit:
        raise ContractError(str(MessageTooLarge(len(body), limit)))
    try:
        return parse_event(body)
    except RecursionError:
        raise ContractError("nested too deeply to parse") from None


POISON = (ContractError, Rejected, MessageTooLarge, RecursionError, MemoryError, UnicodeError)
"""Failures a retry cannot fix: the message itself is at fault."""


def is_permanent(exc: BaseException) -> bool:
    """Return True for failures no retry can fix: broken contracts, rejections, poison input."""
    return isinstance(exc, POISON)


def failure_reason(exc: BaseException) -> str:
    """Return the reason to record for a dead-lettered message, short enough for a header."""
    if isinstance(exc, ContractError | Rejected):
        reason = exc.reason
    else:
        reason = f"handler failed: {type(exc).__name__}: {exc}"
    return truncate_reason(reason)


def truncate_reason(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """Cut a reason to ``limit`` characters, saying how much was cut."""
    if len(reason) <= limit:
        return reason
    cut = f"... ({len(reason) - limit} more characters)"
    return reason[: max(0, limit - len(cut))] + cut


def connect_bus(
    url: str,
    *,
    service: str,
    exchange: str = "cc.events",
    delivery_limit: int = 5,
    prefetch: int = 64,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> Bus:
    """Return a bus for ``memory://<name>`` (in-process) or ``amqp://...`` (RabbitMQ)."""
    if url.startswith("memory://"):
        from cc_common.bus._memory import MemoryBus, broker_named

        return MemoryBus(
            broker_named(url.removeprefix("memory://") or "local"),
            exchange=exchange,
            delivery_limit=delivery_limit,
            max_message_bytes=max_message_bytes,
        )
    if url.startswith(("amqp://", "amqps://")):
        from cc_common.bus._rabbit import RabbitBus

        return RabbitBus(
            url,
            service=service,
            exchange=exchange,
            delivery_limit=delivery_limit,
            prefetch=prefetch,
            max_message_bytes=max_message_bytes,
        )
    raise ValueError(
        f"unsupported bus URL scheme: {url.split(':', 1)[0]!r} (use amqp:// or memory://)"
    )
