"""Shared by the benches on the real RabbitMQ (run alone, it does nothing)."""

from __future__ import annotations

import aio_pika

from cc_common.bus._rabbit import dead_letter_queue


async def remove_bus(url: str, *, exchange: str, queue: str) -> None:
    """Delete a bench's queue, exchange and their dead-letter twins."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue(queue)):
            await channel.queue_delete(name)
        for name in (exchange, f"{exchange}.dlx"):
            await channel.exchange_delete(name)
