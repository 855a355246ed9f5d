"""What the core asks the world to do: plain data that adapters turn into ESL, bus and DB calls.

Every core method returns a list of these, in the order they must be carried out. Names are
imperative; events to publish travel as :class:`PublishEvent` carrying a cc_proto event model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cc_proto.envelope import EncodedEvent, Envelope, EventData, encode_event, make_event
from cc_routing.core.config import Destination


@dataclass(frozen=True, slots=True)
class PublishEvent:
    """Publish ``data`` on the bus; ``at`` is the core's clock (epoch seconds) when it happened."""

    data: EventData
    at: float
    call_id: str | None = None
    agent_id: str | None = None

    @property
    def occurred_at(self) -> datetime:
        """The event time as the envelope wants it."""
        return datetime.fromtimestamp(self.at, UTC)

    def envelope(self, *, tenant: str) -> Envelope[EventData]:
        """Wrap the event for the bus (a fresh event id each call)."""
        return make_event(
            self.data,
            tenant=tenant,
            occurred_at=self.occurred_at,
            call_id=self.call_id,
            agent_id=self.agent_id,
        )

    def encoded(self, *, tenant: str) -> EncodedEvent:
        """Encode the event for the outbox as :meth:`envelope` would (its data is validated)."""
        return encode_event(
            self.data,
            tenant=tenant,
            occurred_at=self.occurred_at,
            call_id=self.call_id,
            agent_id=self.agent_id,
        )


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring ``contact`` (any dial string) with origination uuid ``offer_id``, then park it."""

    offer_id: str
    call_id: str
    agent_id: str
    contact: str
    queue: str
    ring_timeout_seconds: float
    attempt: int
    caller_number: str | None = None
    callback_number: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOffer:
    """Hang up the agent leg ``offer_id`` (ORIGINATOR_CANCEL): it no longer serves a call."""

    offer_id: str
    call_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class BridgeCall:
    """Bridge the caller (or callback customer) leg ``call_id`` to the agent leg ``offer_id``."""

    call_id: str
    offer_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class DialCustomer:
    """Originate the callback customer leg (uuid ``call_id``); the agent waits on ``offer_id``."""

    call_id: str
    number: str
    offer_id: str
    agent_id: str
    queue: str
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Send the caller leg to a destination outside the queues (dialplan transfer or hangup)."""

    call_id: str
    destination: Destination
    reason: str


@dataclass(frozen=True, slots=True)
class TransferOut:
    """Blind-transfer an answered caller to a number: out of routing's queues, into the dialplan.

    The caller leaves the bridge (the agent leg, ``hangup_after_bridge``, hangs up) and is no
    longer routing's: ``cc_queue`` is unset first so a later park is never taken for a caller.
    """

    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class ParkCaller:
    """Take an answered caller out of its bridge and park it (``uuid_park``): the agent leg,
    ``hangup_after_bridge``, hangs up; routing queues the caller again."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class HoldCall:
    """Hold (or resume) a conversation: ``uuid_hold [off]`` on the agent's leg, so the caller,
    its bridge partner, hears music on hold (FreeSWITCH plays it to the held leg's partner)."""

    call_id: str
    agent_leg: str
    on: bool


@dataclass(frozen=True, slots=True)
class HangupCall:
    """Hang up a caller or callback customer leg that routing no longer needs."""

    call_id: str
    cause: str


@dataclass(frozen=True, slots=True)
class ReleaseCaller:
    """The caller leaves the queue (callback booked): confirm and hang up their leg."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlayMusicOnHold:
    """Start hold music for a waiting caller (``music`` None: the platform default)."""

    call_id: str
    queue: str
    music: str | None


@dataclass(frozen=True, slots=True)
class PlayAnnouncement:
    """Tell a waiting caller their place and expected wait."""

    call_id: str
    queue: str
    position: int
    estimated_wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class SetCallVariables:
    """Write the queue membership on the channel, so a restarted service can rebuild it."""

    call_id: str
    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ReportProblem:
    """Something was wrong with the input; log it (the call itself was still handled)."""

    code: str
    message: str
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None


Command = (
    PublishEvent
    | OfferCall
    | CancelOffer
    | BridgeCall
    | DialCustomer
    | TransferCall
    | TransferOut
    | ParkCaller
    | HoldCall
    | HangupCall
    | ReleaseCaller
    | PlayMusicOnHold
    | PlayAnnouncement
    | SetCallVariables
    | ReportProblem
)
