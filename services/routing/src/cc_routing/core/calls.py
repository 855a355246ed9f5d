"""A caller (or booked callback) as routing sees them; reading one from channel variables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from cc_routing.core.expressions import Requirement

if TYPE_CHECKING:
    from cc_routing.core.agents import Agent

MAX_PRIORITY = 100

# Channel variables that carry queue membership; FreeSWITCH keeps them across our restarts.
VAR_QUEUE = "cc_queue"
VAR_PRIORITY = "cc_priority"
VAR_ENQUEUED_AT = "cc_enqueued_at"
VAR_SKILLS = "cc_skills"
VAR_CUSTOMER = "cc_customer_id"
VAR_AGENT = "cc_agent"
VAR_AGENT_LEG = "cc_agent_leg"
VAR_ANSWERED_AT = "cc_answered_at"


class CallStatus(Enum):
    """Where a call is in its journey through a queue."""

    WAITING = "waiting"
    RINGING = "ringing"
    CONNECTING = "connecting"  # the agent answered; the bridge to the caller is not yet confirmed
    DIALING = "dialing"  # callback: the agent answered, the customer is being dialled
    CONNECTED = "connected"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class ParkedCall:
    """A caller handed to routing (CHANNEL_PARK with ``cc_queue``), in the core's terms."""

    call_id: str
    queue: str
    priority: int = 0
    enqueued_at: float | None = None
    skills: str | None = None
    caller_number: str | None = None
    dialed_number: str | None = None
    customer_id: str | None = None

    @classmethod
    def from_variables(cls, call_id: str, variables: Mapping[str, str]) -> ParkedCall:
        """Read a parked call from channel variables; ValueError names a bad variable."""
        queue = (variables.get(VAR_QUEUE) or "").strip()
        if not queue:
            raise ValueError(f"call {call_id}: {VAR_QUEUE} is missing")
        priority = _int_var(call_id, variables, VAR_PRIORITY, default=0)
        enqueued_at = _float_var(call_id, variables, VAR_ENQUEUED_AT)
        return cls(
            call_id=call_id,
            queue=queue,
            priority=priority,
            enqueued_at=enqueued_at,
            skills=variables.get(VAR_SKILLS) or None,
            caller_number=variables.get("caller_id_number") or None,
            dialed_number=variables.get("destination_number") or None,
            customer_id=variables.get(VAR_CUSTOMER) or None,
        )


def _int_var(call_id: str, variables: Mapping[str, str], name: str, *, default: int) -> int:
    raw = variables.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"call {call_id}: {name}={raw!r} is not an integer") from None


def _float_var(call_id: str, variables: Mapping[str, str], name: str) -> float | None:
    raw = variables.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"call {call_id}: {name}={raw!r} is not epoch seconds") from None
    if not math.isfinite(value):
        raise ValueError(f"call {call_id}: {name}={raw!r} is not epoch seconds")
    return value


@dataclass(frozen=True, slots=True)
class CallNotes:
    """What the call ledger keeps of a call that the switch's channel cannot give back after a
    restart: the hold under way and the finished holds since the last answer, and the cause a
    CRM asked to hang up with (the switch reports its own)."""

    held_since: float | None = None
    hold_seconds: float = 0.0
    hangup_requested: str | None = None

    def apply(self, call: Call) -> None:
        """Give a restored call what was noted of it."""
        call.held_since = self.held_since
        call.hold_seconds = self.hold_seconds
        call.ended_by_request = self.hangup_requested


def seconds_var(value: float) -> str:
    """Write epoch seconds as a channel variable (``cc_enqueued_at``...), read back exactly."""
    return repr(value)


class Offer:
    """One ring of one agent for one call; its id is the agent leg's origination uuid."""

    __slots__ = (
        "active",
        "agent",
        "answered_at",
        "attempt",
        "call",
        "offer_id",
        "queue",
        "started_at",
    )

    def __init__(self, offer_id: str, call: Call, agent: Agent, queue: str, now: float) -> None:
        self.offer_id = offer_id
        self.call = call
        self.agent = agent
        self.queue = queue
        self.started_at = now
        self.attempt = call.attempts
        self.active = True
        self.answered_at: float | None = None


class Call:
    """Mutable runtime of one call in routing; only the core's subjects change it."""

    __slots__ = (
        "agent",
        "answered_at",
        "arrived_at",
        "attempts",
        "call_id",
        "callback_attempts",
        "callback_number",
        "caller_number",
        "customer_id",
        "dialed_number",
        "direct_to",
        "ended_by_request",
        "enqueued_at",
        "held_since",
        "hold_seconds",
        "hops",
        "last_tried",
        "not_before",
        "offer",
        "offers",
        "origin_call_id",
        "own_requirement",
        "placed",
        "priority",
        "queue",
        "requirement",
        "ring_round",
        "seq",
        "sort_key",
        "status",
        "step",
        "visit",
    )

    def __init__(self, parked: ParkedCall, own: Requirement | None, now: float) -> None:
        self.call_id = parked.call_id
        self.queue = parked.queue
        self.priority = parked.priority
        self.caller_number = parked.caller_number
        self.dialed_number = parked.dialed_number
        self.customer_id = parked.customer_id
        self.own_requirement = own
        self.requirement: Requirement | None = own
        self.arrived_at = now
        self.enqueued_at = now
        self.seq = 0
        self.sort_key: tuple[int, float, int] = (0, now, 0)
        self.status = CallStatus.WAITING
        self.step = 0
        self.visit = 0
        self.hops = 0
        self.attempts = 0
        self.offers: dict[str, Offer] = {}
        self.offer: Offer | None = None  # the offer that connected
        self.agent: Agent | None = None
        self.answered_at = 0.0
        self.not_before = 0.0
        self.last_tried: tuple[int, float] | None = None
        self.ring_round = 0
        self.callback_number: str | None = None
        self.callback_attempts = 0
        self.origin_call_id: str | None = None
        self.ended_by_request: str | None = None
        self.held_since: float | None = None
        """When the agent put the caller on hold (None: not on hold)."""
        self.hold_seconds = 0.0
        """Time on hold so far, finished holds only."""
        self.direct_to: str | None = None
        """The one agent the call is offered to (a click-to-call, a transfer to an agent):
        it is never in its queue's line and nobody else may take it."""
        self.placed = False
        """An agent's outbound call (click-to-call): the agent is rung, then the customer."""
        """The cause a CRM asked to hang up with, until the switch confirms the hangup."""

    @property
    def is_callback(self) -> bool:
        """Whether this entry is a booked callback rather than a caller on the line."""
        return self.callback_number is not None

    def hold_until(self, now: float) -> float:
        """The caller's hold time since the last answer up to ``now``, a running hold included
        (a transfer hands the next agent a fresh count)."""
        running = 0.0 if self.held_since is None else max(now - self.held_since, 0.0)
        return self.hold_seconds + running

    def __repr__(self) -> str:
        return f"Call({self.call_id!r}, {self.queue!r}, {self.status.value})"
