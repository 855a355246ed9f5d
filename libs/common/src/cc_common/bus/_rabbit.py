"""The RabbitMQ bus on aio-pika.

Topology per consuming service: a durable topic exchange for events; the service's durable
quorum queue bound to it, with an explicit delivery limit, a dead-letter exchange and the
at-least-once dead-letter strategy (RabbitMQ 3.10 has no defaults for these, and at-least-once
needs ``x-overflow: reject-publish``); and ``<queue>.dead`` holding what was dead-lettered.

A message that breaks its contract, or that a handler rejects, is republished to the
dead-letter exchange with the reason in ``x-cc-dead-reason`` (confirmed), then acked. A handler
that keeps failing is dead-lettered the same way on its last allowed attempt; a consumer that
keeps dying is dead-lettered by RabbitMQ itself (reason ``delivery_limit`` in ``x-death``).

The connection is robust: after a broker restart, a lost connection or a closed channel it comes
back and the consumers with it. A message in hand when its channel closed has already been
returned to the queue by RabbitMQ; its ack cannot reach the broker, so the worker drops it and
goes on (the redelivered copy is absorbed by the idempotent consumer). ``ping`` (readiness) fails
while the connection is down and when a consumer has messages waiting but settles none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import ChannelInvalidStateError

from cc_common.bus._base import (
    MAX_MESSAGE_BYTES,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
    SOURCE_QUEUE_HEADER,
    STALL_SECONDS,
    Bus,
    Consumer,
    DeadLetter,
    Handler,
    MessageTooLarge,
    check_size,
    decode,
    encode,
    failure_reason,
    is_permanent,
)
from cc_common.logging import get_logger

log = get_logger(__name__)

KEPT_HEADERS_BYTES = 16 * 1024
"""A dead letter keeps the original headers only up to this size, so its own fit in a frame."""
WATCH_SECONDS = 1.0
"""How often the watcher asks RabbitMQ how many messages wait in each consumed queue."""


def queue_arguments(
    queue: str, *, dead_letter_exchange: str, delivery_limit: int
) -> dict[str, Any]:
    """Return the quorum queue arguments that make dead-lettering explicit on RabbitMQ 3.10."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": dead_letter_exchange,
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def dead_letter_queue(queue: str) -> str:
    """Return the name of the queue that keeps ``queue``'s dead letters."""
    return f"{queue}.dead"


@dataclass(slots=True)
class _Progress:
    """What a consumer has in hand and when it last moved, so a stuck one can be told apart."""

    queue: str
    stall_seconds: float
    in_hand: int = 0
    waiting_on_broker: int = 0
    last_moved: float = field(default_factory=time.monotonic)

    def moved(self) -> None:
        self.last_moved = time.monotonic()

    def problem(self, buffered: int) -> str | None:
        waiting = buffered + self.in_hand + self.waiting_on_broker
        if not waiting:
            self.moved()  # idle is not stuck
            return None
        still = time.monotonic() - self.last_moved
        if still < self.stall_seconds:
            return None
        return f"consumer of {self.queue} settled nothing for {still:.0f} s, {waiting} waiting"


class _RabbitConsumer(Consumer):
    def __init__(
        self,
        channel: AbstractChannel,
        inbox: asyncio.Queue[AbstractIncomingMessage],
        progress: _Progress,
    ) -> None:
        self._channel = channel
        self.inbox = inbox
        self.progress = progress
        self.workers: list[asyncio.Task[None]] = []

    @property
    def queue(self) -> str:
        return self.progress.queue

    def deliver(self, message: AbstractIncomingMessage) -> None:
        """Take a delivery from RabbitMQ (a delivery to an idle consumer starts its clock)."""
        if self.inbox.empty() and not self.progress.in_hand:
            self.progress.moved()
        self.inbox.put_nowait(message)

    def problem(self) -> str | None:
        if any(task.done() for task in self.workers):
            return f"consumer of {self.queue} has stopped"
        if self._channel.is_closed:
            return f"consumer of {self.queue} has no open channel"
        return self.progress.problem(self.inbox.qsize())

    async def cancel(self) -> None:
        for task in self.workers:
            task.cancel()
        for task in self.workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Closing the channel hands every unacked message back to RabbitMQ for redelivery.
        if not self._channel.is_closed:
            await self._channel.close()


class RabbitBus(Bus):
    """A :class:`Bus` on RabbitMQ with publisher confirms and manual acks."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        exchange: str = "cc.events",
        delivery_limit: int = 5,
        prefetch: int = 64,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        stall_seconds: float = STALL_SECONDS,
        reconnect_seconds: float = 1.0,
    ) -> None:
        self._url = url
        self._service = service
        self._exchange_name = exchange
        self._dlx_name = f"{exchange}.dlx"
        self._delivery_limit = delivery_limit
        self._prefetch = prefetch
        self._max_bytes = max_message_bytes
        self._stall_seconds = stall_seconds
        self._reconnect_seconds = reconnect_seconds
        self._watch_channel: AbstractChannel | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None
        self._consumers: list[_RabbitConsumer] = []
        self._lock = asyncio.Lock()

    async def connect(self) -> RabbitBus:
        """Open the connection and declare the exchanges; safe to call twice."""
        async with self._lock:
            if self._connection is None:
                self._connection = await aio_pika.connect_robust(
                    self._url,
                    client_properties={"connection_name": f"cc-{self._service}"},
                    reconnect_interval=self._reconnect_seconds,
                )
                self._publish_channel = await self._connection.channel(publisher_confirms=True)
                self._exchange = await self._publish_channel.declare_exchange(
                    self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
                )
                self._dlx = await self._publish_channel.declare_exchange(
                    self._dlx_name, aio_pika.ExchangeType.DIRECT, durable=True
                )
        return self

    async def __aenter__(self) -> RabbitBus:
        return await self.connect()

    async def _ready(self) -> tuple[AbstractRobustConnection, AbstractExchange, AbstractExchange]:
        if self._connection is None:
            await self.connect()
        assert self._connection and self._exchange and self._dlx  # noqa: PT018  (set by connect)
        return self._connection, self._exchange, self._dlx

    async def publish(self, event: Any) -> None:
        body, key = encode(event, self._max_bytes)
        _, exchange, _ = await self._ready()
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(event.id),
            type=event.type,
            timestamp=event.occurred_at,
            headers={"cc-version": event.version, "cc-tenant": event.tenant},
        )
        await exchange.publish(message, routing_key=key)

    async def publish_raw(self, body: bytes, *, routing_key: str) -> None:
        check_size(body, self._max_bytes)
        _, exchange, _ = await self._ready()
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await exchange.publish(message, routing_key=routing_key)

    async def publish_raw_batch(
        self, messages: Sequence[tuple[bytes, str]]
    ) -> list[MessageTooLarge | None]:
        """Publish in order, then await every confirm together (one round trip, not one each).

        Order holds because every publish on the channel takes aiormq's FIFO channel lock in
        the order the publishes start, which is the order of ``messages``; the broker routes a
        channel's messages in the order it receives them.
        """
        refused: list[MessageTooLarge | None] = []
        publishes = []
        _, exchange, _ = await self._ready()
        for body, key in messages:
            try:
                check_size(body, self._max_bytes)
            except MessageTooLarge as exc:
                refused.append(exc)
                continue
            refused.append(None)
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            publishes.append(exchange.publish(message, routing_key=key))
        # Every confirm is awaited, even after a failure, so no publish is left running.
        results = await asyncio.gather(*publishes, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return refused

    async def declare(self, queue: str, *, bindings: Sequence[str]) -> None:
        """Declare a service queue, its dead-letter queue and bindings (idempotent)."""
        connection, exchange, dlx = await self._ready()
        async with connection.channel() as channel:
            await self._declare_on(channel, queue, bindings, exchange, dlx)

    async def _declare_on(
        self,
        channel: AbstractChannel,
        queue: str,
        bindings: Sequence[str],
        exchange: AbstractExchange,
        dlx: AbstractExchange,
    ) -> AbstractQueue:
        dead = await channel.declare_queue(
            dead_letter_queue(queue), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx.name, routing_key=queue)
        args = queue_arguments(
            queue, dead_letter_exchange=dlx.name, delivery_limit=self._delivery_limit
        )
        declared = await channel.declare_queue(queue, durable=True, arguments=args)
        for pattern in bindings:
            await declared.bind(exchange.name, routing_key=pattern)
        return declared

    async def consume(
        self, queue: str, *, bindings: Sequence[str], handler: Handler, concurrency: int = 1
    ) -> Consumer:
        connection, exchange, dlx = await self._ready()
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=max(self._prefetch, concurrency))
        declared = await self._declare_on(channel, queue, bindings, exchange, dlx)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        consumer = _RabbitConsumer(channel, inbox, _Progress(queue, self._stall_seconds))

        async def deliver(message: AbstractIncomingMessage) -> None:
            consumer.deliver(message)

        await declared.consume(deliver, no_ack=False)
        consumer.workers = [
            asyncio.create_task(self._work(consumer, handler), name=f"bus:{queue}")
            for _ in range(concurrency)
        ]
        self._consumers.append(consumer)
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="bus:watch")
        return consumer

    async def _work(self, consumer: _RabbitConsumer, handler: Handler) -> None:
        """Handle messages until cancelled; no failure of one message stops the worker."""
        progress = consumer.progress
        while True:
            message = await consumer.inbox.get()
            progress.in_hand += 1
            try:
                await self._settle(consumer.queue, message, handler)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the channel closed under us: RabbitMQ has it back
                log.warning(
                    "bus.settle_lost",
                    queue=consumer.queue,
                    message_id=message.message_id,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
            finally:
                progress.in_hand -= 1
                progress.moved()

    async def _settle(self, queue: str, message: AbstractIncomingMessage, handler: Handler) -> None:
        """Handle one message and ack it, or retry or dead-letter it."""
        if _from_closed_channel(message):
            return  # delivered before a reconnect: RabbitMQ redelivers it on the new channel
        try:
            await handler(decode(message.body, self._max_bytes))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(queue, message, exc)
        else:
            await message.ack()

    async def _fail(self, queue: str, message: AbstractIncomingMessage, exc: Exception) -> None:
        returns = _delivery_count(message)
        if is_permanent(exc) or returns >= self._delivery_limit:
            await self._dead_letter(queue, message, failure_reason(exc))
            await message.ack()
            return
        log.warning("bus.handler_failed", queue=queue, attempt=returns + 1, error=repr(exc)[:300])
        await message.nack(requeue=True)

    async def _dead_letter(self, queue: str, message: AbstractIncomingMessage, reason: str) -> None:
        log.warning(
            "bus.dead_lettered", queue=queue, routing_key=message.routing_key, reason=reason
        )
        _, _, dlx = await self._ready()
        headers = _kept_headers(message)
        headers.update(
            {
                REASON_HEADER: reason,
                SOURCE_QUEUE_HEADER: queue,
                ROUTING_KEY_HEADER: message.routing_key or "",
            }
        )
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await dlx.publish(copy, routing_key=queue)

    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        connection, _, _ = await self._ready()
        found: list[DeadLetter] = []
        async with connection.channel() as channel:
            dead = await channel.declare_queue(
                dead_letter_queue(queue), durable=True, arguments={"x-queue-type": "quorum"}
            )
            while len(found) < limit:
                message = await dead.get(no_ack=False, fail=False)
                if message is None:
                    break
                found.append(_as_dead_letter(message))
                await message.ack()
        return found

    async def ping(self) -> None:
        connection, _, _ = await self._ready()
        if connection.is_closed or not connection.connected.is_set():
            raise ConnectionError("RabbitMQ connection is down (reconnecting)")
        if self._publish_channel is None or self._publish_channel.is_closed:
            raise ConnectionError("RabbitMQ publishing channel is closed (reopening)")
        problems = [p for p in (c.problem() for c in self._consumers) if p is not None]
        if problems:
            raise ConnectionError("; ".join(problems))

    async def _watch(self) -> None:
        """Learn how many messages wait in each consumed queue (a stuck consumer shows there)."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self._count_waiting()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection is down: ping says so already
                log.debug("bus.watch_failed", error=repr(exc)[:200])

    async def _count_waiting(self) -> None:
        connection, _, _ = await self._ready()
        if not connection.connected.is_set():
            return
        if self._watch_channel is None or self._watch_channel.is_closed:
            self._watch_channel = await connection.channel(publisher_confirms=False)
        underlay = await self._watch_channel.get_underlay_channel()
        for consumer in list(self._consumers):
            declared = await underlay.queue_declare(consumer.queue, passive=True)
            consumer.progress.waiting_on_broker = declared.message_count or 0

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self._watch_channel = None


def _from_closed_channel(message: AbstractIncomingMessage) -> bool:
    """Return True for a delivery whose channel has closed since: it can no longer be acked."""
    try:
        return message.channel.is_closed
    except ChannelInvalidStateError:
        return True


def _kept_headers(message: AbstractIncomingMessage) -> dict[str, Any]:
    """Return the message's headers for its dead letter, dropped if they are too large."""
    headers = dict(message.headers or {})
    if len(repr(headers)) > KEPT_HEADERS_BYTES:
        return {"x-cc-headers-dropped": "original headers too large"}
    return headers


def _delivery_count(message: AbstractIncomingMessage) -> int:
    """Return how often RabbitMQ has already handed this message back (0 on first delivery)."""
    count = (message.headers or {}).get("x-delivery-count", 0)
    return count if isinstance(count, int) else 0


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return value.decode(errors="replace")
    return str(value)


def _as_dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    """Describe a dead-lettered message, whether we or RabbitMQ (``x-death``) put it there."""
    headers = dict(message.headers or {})
    reason = _text(headers.get(REASON_HEADER))
    key = _text(headers.get(ROUTING_KEY_HEADER))
    deaths = headers.get("x-death")
    if reason is None and isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        death = deaths[0]
        reason = f"broker: {_text(death.get('reason'))}"
        keys = death.get("routing-keys")
        if key is None and isinstance(keys, list) and keys:
            key = _text(keys[0])
    routing = key or message.routing_key or ""
    return DeadLetter(message.body, routing, reason or "unknown", headers)
