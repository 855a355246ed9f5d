"""The event bus: one interface, RabbitMQ for production and an in-process broker for one machine.

Both carry events as JSON bytes and validate them against the contracts on the way in, so a
consumer sees the same behaviour on either: ack after the handler returns, redelivery when it
raises (up to the delivery limit), and poison messages (broken contracts, bodies over the size
limit, JSON nested too deeply) dead-lettered at once with a reason short enough for a header.
"""

from cc_common.bus._base import (
    MAX_MESSAGE_BYTES,
    Bus,
    Consumer,
    DeadLetter,
    Handler,
    MessageTooLarge,
    Rejected,
    connect_bus,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Bus",
    "Consumer",
    "DeadLetter",
    "Handler",
    "MessageTooLarge",
    "Rejected",
    "connect_bus",
]
