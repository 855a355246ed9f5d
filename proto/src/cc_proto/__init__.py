"""The platform's event contracts: the envelope and every domain event, versioned."""

from cc_proto.envelope import (
    ContractError,
    Envelope,
    EventData,
    event_types,
    make_event,
    parse_event,
    routing_key,
)

__all__ = [
    "ContractError",
    "Envelope",
    "EventData",
    "event_types",
    "make_event",
    "parse_event",
    "routing_key",
]

from cc_proto import events as events
