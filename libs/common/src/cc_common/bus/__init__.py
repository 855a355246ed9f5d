"""The event bus: one interface, RabbitMQ for production and an in-process broker for one machine.

Both carry events as JSON bytes and validate them against the contracts on the way in, so a
consumer sees the same behaviour on either: ack after the handler returns, redelivery when it
raises (up to the delivery limit), and poison messages dead-lettered with a reason.
"""

from cc_common.bus._base import Bus, Consumer, DeadLetter, Handler, Rejected, connect_bus

__all__ = ["Bus", "Consumer", "DeadLetter", "Handler", "Rejected", "connect_bus"]
