"""The public form of domain events, carrying the call's caller number and customer id."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from cc_proto import Envelope

STREAMED_AGGREGATES = ("call", "agent", "survey")
"""The event families agents' screens and webhooks receive."""


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the CRM or the IVR told the platform about a call, kept for every later event."""

    call_id: str
    caller_number: str | None = None
    dialed_number: str | None = None
    customer_id: str | None = None
    queue: str | None = None
    ivr_selections: tuple[str, ...] = field(default_factory=tuple)
    agent_id: str | None = None
    direction: str = "inbound"
    """``outbound`` for an agent's click-to-call (the customer is ``dialed_number``)."""

    def public(self) -> dict[str, Any]:
        """Return the call block of a public event."""
        doc = asdict(self)
        doc["ivr_selections"] = list(self.ivr_selections)
        return doc


def updated_context(context: CallContext | None, event: Envelope[Any]) -> CallContext | None:
    """Fold one event into the call's context; None when the event is not about a call."""
    if event.call_id is None:
        return context
    ctx = context or CallContext(call_id=event.call_id)
    data = event.data.model_dump()
    for name in ("caller_number", "dialed_number", "customer_id", "queue"):
        if data.get(name):
            ctx = replace(ctx, **{name: data[name]})
    if event.type == "call.ivr_completed" and data.get("selections"):
        ctx = replace(ctx, ivr_selections=tuple(data["selections"]))
    if event.type == "call.placed":
        ctx = replace(ctx, direction="outbound")
    if event.agent_id and event.type in ("call.placed", "call.agent_offered", "call.answered"):
        ctx = replace(ctx, agent_id=event.agent_id)
    return ctx


def event_agent(event: Envelope[Any], context: CallContext | None) -> str | None:
    """Return the agent an event concerns: the envelope's, else the call's current agent."""
    if event.agent_id:
        return event.agent_id
    if context is not None and event.type not in ("call.offered", "call.queued"):
        return context.agent_id
    return None


def event_team(event: Envelope[Any], known_team: str | None) -> str | None:
    """Return the team an event concerns: its own field if it has one, else the agent's team."""
    team = getattr(event.data, "team", None)
    return team if isinstance(team, str) and team else known_team


def public_event(
    seq: int,
    event: Envelope[Any],
    *,
    agent_id: str | None,
    team: str | None,
    context: CallContext | None,
) -> dict[str, Any]:
    """Return the JSON document streams and webhooks carry for one event."""
    return {
        "seq": seq,
        "event_id": str(event.id),
        "type": event.type,
        "occurred_at": _iso(event.occurred_at),
        "tenant": event.tenant,
        "call_id": event.call_id,
        "agent_id": agent_id,
        "team": team,
        "data": event.data.model_dump(mode="json"),
        "call": context.public() if context is not None else None,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
