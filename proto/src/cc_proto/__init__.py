"""The platform's event contracts: the envelope and every domain event, versioned."""

from cc_proto.envelope import (
    ContractError,
    EncodedEvent,
    Envelope,
    EventData,
    encode_event,
    event_types,
    make_event,
    parse_event,
    routing_key,
)

__all__ = [
    "ContractError",
    "EncodedEvent",
    "Envelope",
    "EventData",
    "encode_event",
    "event_types",
    "make_event",
    "parse_event",
    "routing_key",
]

from cc_proto import events as events
