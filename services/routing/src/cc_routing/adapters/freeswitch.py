"""Between the ACD core and FreeSWITCH: core commands to ESL lines, ESL events to core inputs.

Pure functions only; :mod:`cc_routing.runtime` does the I/O. Legs routing originates carry
``cc_role`` (``agent`` or ``customer``) so their events are never mistaken for a caller's, and
``cc_leg`` (their own uuid): mod_loopback copies originate variables onto both halves of a
pair, so only the channel whose uuid is ``cc_leg`` is the leg routing rang; the other half is
the far end's, never acted on. Callers carry ``cc_queue`` (set by the IVR) and the membership
variables the core writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cc_common.esl import EslEvent
from cc_routing.core import (
    BridgeCall,
    CancelOffer,
    Command,
    DialCustomer,
    HangupCall,
    HoldCall,
    OfferCall,
    ParkCaller,
    ParkedCall,
    PlayAnnouncement,
    PlayMusicOnHold,
    ReleaseCaller,
    SetCallVariables,
    TransferCall,
    TransferOut,
)
from cc_routing.core.calls import VAR_ENQUEUED_AT

ROLE = "cc_role"
ROLE_AGENT = "agent"
ROLE_CUSTOMER = "customer"
VAR_CALL = "cc_call_id"
VAR_OFFER_AGENT = "cc_offer_agent"
VAR_LEG = "cc_leg"
"""On a leg routing originates: that leg's own uuid (told apart from a loopback's other half)."""
RING_GRACE_SECONDS = 2
"""FreeSWITCH's own originate timeout trails routing's ring timer, so routing's cancel comes
first and the two never race to end the same leg."""
HANGUP_REALM = "cc_routing_hangup"
"""mod_hash realm where a queued caller's channel notes its own hangup (see :class:`HangupNote`),
so an instance that was down when the caller left ends the call as it was (then deletes it)."""
HANGUP_NOTE = "${end_uepoch}:${last_bridge_to}:${bridge_uepoch}"
"""What the note holds: FreeSWITCH 1.10 sets all three before ``api_hangup_hook`` runs, and
``last_bridge_to`` (the last bridge partner's uuid) outlives the bridge, unlike ``bridge_to``."""
HANGUP_HOOK = "api_hangup_hook"
HEADER_CALLER_NUMBER = "Caller-Caller-ID-Number"
HEADER_DIALED_NUMBER = "Caller-Destination-Number"

ROUTING_EVENTS = (
    "CHANNEL_PARK",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "BACKGROUND_JOB",
)
"""What routing subscribes to; everything it decides follows from these."""

ROUTING_FORMAT = "json"
"""The event format routing asks for: the client decodes it about twice as fast as plain text
(``bench/esl_parse.py``), and routing's CPU goes mostly to reading the switch's events."""

ROUTING_FILTERS = (
    ("Event-Name", "BACKGROUND_JOB"),
    ("variable_cc_queue", "/./"),
    (f"variable_{ROLE}", "/./"),
)
"""FreeSWITCH-side filters (any one passes): bgapi results, callers (``cc_queue``) and the legs
routing or the dialer originates (``cc_role``, on both halves of a loopback pair). Every other
channel's events -- a call before it reaches a queue, the caller's own loopback half, other
services' channels -- :func:`classify` ignores, so the switch need not send them at all."""


@dataclass(frozen=True, slots=True)
class Dialplan:
    """Where routing sends calls it does not keep, and what it plays."""

    context: str = "contact-center"
    hold_music: str = "local_stream://moh"
    transfer_context: str = "cc-transfer-out"
    """Where a blind transfer to a number goes (reaches it through the gateway)."""


# --- commands to ESL ---------------------------------------------------------------------------


_UNSAFE = re.compile(r"[\s,'{}\[\]]")


def _channel_var(name: str, value: str) -> str:
    """Format ``name=value`` for an originate ``{...}`` block, quoting when FreeSWITCH needs it."""
    value = value.replace("'", "")
    if _UNSAFE.search(value):
        value = "'" + value.replace(",", "\\,") + "'"
    return f"{name}={value}"


def _vars(pairs: dict[str, str | None]) -> str:
    return "{" + ",".join(_channel_var(k, v) for k, v in pairs.items() if v is not None) + "}"


def originate_agent(offer: OfferCall) -> str:
    """Ring the agent's contact as leg ``offer_id``; it parks on answer (``&park()``)."""
    variables = _vars(
        {
            "origination_uuid": offer.offer_id,
            ROLE: ROLE_AGENT,
            VAR_LEG: offer.offer_id,
            VAR_CALL: offer.call_id,
            VAR_OFFER_AGENT: offer.agent_id,
            "originate_timeout": str(
                max(1, round(offer.ring_timeout_seconds)) + RING_GRACE_SECONDS
            ),
            "ignore_early_media": "true",
            "hangup_after_bridge": "true",
            "origination_caller_id_number": offer.caller_number or offer.callback_number,
            "origination_caller_id_name": offer.queue,
        }
    )
    return f"originate {variables}{offer.contact} &park()"


def originate_customer(dial: DialCustomer, *, gateway_template: str) -> str:
    """Dial the callback customer as leg ``call_id`` for the agent waiting on ``offer_id``."""
    variables = _vars(
        {
            "origination_uuid": dial.call_id,
            ROLE: ROLE_CUSTOMER,
            VAR_LEG: dial.call_id,
            VAR_OFFER_AGENT: dial.agent_id,
            "originate_timeout": str(max(1, round(dial.timeout_seconds))),
            "ignore_early_media": "true",
        }
    )
    return f"originate {variables}{gateway_template.format(number=dial.number)} &park()"


def to_esl(command: Command, *, dialplan: Dialplan, gateway_template: str) -> list[str]:
    """Return the API commands (sent with ``bgapi``) that carry out one core command."""
    match command:
        case OfferCall():
            return [originate_agent(command)]
        case CancelOffer():
            return [f"uuid_kill {command.offer_id} ORIGINATOR_CANCEL"]
        case BridgeCall():
            return [f"uuid_bridge {command.call_id} {command.offer_id}"]
        case DialCustomer():
            return [originate_customer(command, gateway_template=gateway_template)]
        case HangupCall():
            return [f"uuid_kill {command.call_id} {command.cause}"]
        case ReleaseCaller():
            return [f"uuid_kill {command.call_id} NORMAL_CLEARING"]
        case TransferCall():
            return [_transfer(command, dialplan)]
        case HoldCall():
            return _hold(command)
        case ParkCaller():
            return [f"uuid_park {command.call_id}"]
        case TransferOut():
            return [
                f"uuid_setvar {command.call_id} cc_queue",
                f"uuid_transfer {command.call_id} {command.number} XML {dialplan.transfer_context}",
            ]
        case PlayMusicOnHold():
            return [f"uuid_broadcast {command.call_id} {command.music or dialplan.hold_music} aleg"]
        case PlayAnnouncement():
            minutes = (
                "unknown"
                if command.estimated_wait_seconds is None
                else str(max(1, round(command.estimated_wait_seconds / 60)))
            )
            return [
                f"uuid_broadcast {command.call_id} "
                f"phrase:cc_queue_position:{command.position}:{minutes} aleg",
                f"uuid_broadcast {command.call_id} {dialplan.hold_music} aleg",
            ]
        case SetCallVariables():
            return set_variables(command)
    return []


def _hold(command: HoldCall) -> list[str]:
    """Hold or resume the agent's leg; a resume first cancels the caller's queued hold music.

    ``uuid_hold`` queues the music on the caller's bridge, and the bridge runs what is queued
    only after its first frames of media (about 0.2 s) with the partner not held. A hold sent
    sooner stays silent, and its music would start at the resume and loop over the
    conversation. ``uuid_break <caller> all`` drops what is queued and stops what plays; it is
    sent while the agent is still held, so the bridge cannot start the music in between.
    """
    if command.on:
        return [f"uuid_hold {command.agent_leg}"]
    return [f"uuid_break {command.call_id} all", f"uuid_hold off {command.agent_leg}"]


_MULTI_UNSAFE = re.compile(r"[;='\\]")


def set_variables(command: SetCallVariables) -> list[str]:
    """Set a caller's variables with one command (and, on queue entry, its hangup hook).

    ``uuid_setvar_multi`` takes ``name=value;...``; a value it would split or unquote goes
    with its own ``uuid_setvar`` instead, so any value still arrives as written. The hook goes
    alone too: FreeSWITCH expands ``${...}`` in what ``uuid_setvar_multi`` sets, and the hook's
    variables must be read at hangup, not now.
    """
    pairs = list(command.variables)
    multi = [(name, value) for name, value in pairs if value and not _MULTI_UNSAFE.search(value)]
    alone = [(name, value) for name, value in pairs if (name, value) not in multi]
    lines = [f"uuid_setvar {command.call_id} {name} {value}" for name, value in alone]
    if multi:
        joined = ";".join(f"{name}={value}" for name, value in multi)
        lines.insert(0, f"uuid_setvar_multi {command.call_id} {joined}")
    if any(name == VAR_ENQUEUED_AT for name, _ in pairs):
        lines.append(hangup_hook(command.call_id))
    return lines


def hangup_hook(call_id: str, key: str | None = None, realm: str = HANGUP_REALM) -> str:
    """Have a queued caller's channel note its hangup (and last bridge) in mod_hash as it ends.

    The note is kept under ``key`` (the channel's uuid unless given) in ``realm``; the dialer
    keeps its customers' notes under the lead and attempt, which outlive a restart in its store.
    """
    note = f"hash::insert/{realm}/{key or call_id}/{HANGUP_NOTE}"
    return f"uuid_setvar {call_id} {HANGUP_HOOK} {note}"


@dataclass(frozen=True, slots=True)
class HangupNote:
    """What a caller's channel noted as it hung up while no routing instance may have listened.

    The bridge partner tells an answered call from an abandon when the bridge routing asked for
    happened but its confirmation (``CHANNEL_BRIDGE``) was never heard.
    """

    hung_up_at: float
    """FreeSWITCH's hangup time (epoch seconds)."""
    bridged_to: str | None = None
    """The uuid of the last leg the caller was bridged to, if any."""
    bridged_at: float | None = None
    """When the caller was (last) bridged, if it was."""


def parse_hangup_note(text: str) -> HangupNote | None:
    """Read a note (``end:partner:bridge``, microseconds; or a bare ``end`` from older routing)."""
    end, _, rest = text.strip().partition(":")
    partner, _, bridged = rest.partition(":")
    if not end.isdigit() or int(end) <= 0:
        return None
    bridged_at = int(bridged) / 1e6 if bridged.isdigit() and int(bridged) > 0 else None
    return HangupNote(int(end) / 1e6, partner.strip() or None, bridged_at)


def forget_hangup(call_id: str, realm: str = HANGUP_REALM) -> str:
    """Delete the caller's hangup note (once routing has it from the event or the restore)."""
    return f"hash delete/{realm}/{call_id}"


def _transfer(command: TransferCall, dialplan: Dialplan) -> str:
    destination = command.destination
    if destination.kind == "hangup":
        return f"uuid_kill {command.call_id} {destination.target or 'NORMAL_CLEARING'}"
    parts = destination.target.split()
    extension = parts[0]
    kind = parts[1] if len(parts) > 1 else "XML"
    context = parts[2] if len(parts) > 2 else dialplan.context
    return f"uuid_transfer {command.call_id} {extension} {kind} {context}"


# --- ESL events to core inputs -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallerParked:
    """A caller parked with ``cc_queue``: new to routing, or back after a bridge ended."""

    parked: ParkedCall
    after_bridge: bool


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    offer_id: str


@dataclass(frozen=True, slots=True)
class AgentLegEnded:
    offer_id: str
    cause: str


@dataclass(frozen=True, slots=True)
class CallerBridged:
    """FreeSWITCH bridged a caller: the event comes once, on ``uuid_bridge``'s first leg."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallerEnded:
    call_id: str
    cause: str


@dataclass(frozen=True, slots=True)
class CustomerAnswered:
    call_id: str


@dataclass(frozen=True, slots=True)
class CustomerEnded:
    call_id: str
    cause: str
    answered: bool


@dataclass(frozen=True, slots=True)
class JobFinished:
    job_uuid: str
    ok: bool
    cause: str | None


@dataclass(frozen=True, slots=True)
class BadCall:
    """A parked caller whose routing variables cannot be read (the reason says which)."""

    call_id: str
    reason: str


Input = (
    CallerParked
    | AgentAnswered
    | AgentLegEnded
    | CallerBridged
    | CallerEnded
    | CustomerAnswered
    | CustomerEnded
    | JobFinished
    | BadCall
)


def event_time(event: EslEvent, default: float) -> float:
    """Return FreeSWITCH's own time of the event (epoch seconds), or ``default``."""
    stamp: datetime | None = event.timestamp
    return stamp.timestamp() if stamp is not None else default


def classify(event: EslEvent) -> Input | None:
    """Turn one FreeSWITCH event into what routing must react to, or None."""
    name = event.name
    if name == "BACKGROUND_JOB":
        job = event.job_uuid
        if job is None:
            return None
        ok = event.body.startswith("+OK")
        return JobFinished(job, ok, None if ok else failure_cause(event.body))
    uuid = event.unique_id
    if uuid is None:
        return None
    role = event.variable(ROLE)
    if role is not None and not is_own_leg(uuid, event.variable(VAR_LEG)):
        return None  # the far half of a loopback pair routing originated
    if role == ROLE_AGENT:
        return _agent_leg(name, uuid, event)
    if role == ROLE_CUSTOMER:
        return _customer_leg(name, uuid, event)
    if event.variable("cc_queue") is None:
        return None
    if name == "CHANNEL_PARK":
        try:
            parked = ParkedCall.from_variables(uuid, caller_variables(event))
        except ValueError as exc:
            return BadCall(uuid, str(exc))
        return CallerParked(parked, after_bridge=event.variable("cc_answered_at") is not None)
    if name == "CHANNEL_HANGUP_COMPLETE":
        return CallerEnded(uuid, event.hangup_cause or "NORMAL_CLEARING")
    if name == "CHANNEL_BRIDGE":
        return CallerBridged(uuid)
    return None


def is_own_leg(uuid: str, leg: str | None) -> bool:
    """Whether a channel tagged with a role is the leg routing rang (not a loopback's far half)."""
    return leg is None or leg == uuid


def caller_variables(event: EslEvent) -> dict[str, str]:
    """Return a caller's variables with its numbers from the caller profile headers.

    FreeSWITCH sends the numbers as ``Caller-Caller-ID-Number`` / ``Caller-Destination-Number``
    (``variable_caller_id_number`` is not in the event); ``uuid_getvar`` reads the same fields.
    """
    variables = dict(event.variables)
    for name, header in (
        ("caller_id_number", HEADER_CALLER_NUMBER),
        ("destination_number", HEADER_DIALED_NUMBER),
    ):
        value = event.get(header)
        if value:
            variables[name] = value
    return variables


def _agent_leg(name: str, uuid: str, event: EslEvent) -> Input | None:
    if name == "CHANNEL_ANSWER":
        return AgentAnswered(uuid)
    if name == "CHANNEL_HANGUP_COMPLETE":
        return AgentLegEnded(uuid, event.hangup_cause or "NORMAL_CLEARING")
    return None


def _customer_leg(name: str, uuid: str, event: EslEvent) -> Input | None:
    if name == "CHANNEL_ANSWER":
        return CustomerAnswered(uuid)
    if name == "CHANNEL_HANGUP_COMPLETE":
        answered = event.variable("answer_epoch") not in (None, "", "0")
        return CustomerEnded(uuid, event.hangup_cause or "NORMAL_CLEARING", answered)
    return None


def failure_cause(text: str) -> str:
    """Return the hangup cause in a failed job's reply (``-ERR NO_ANSWER``)."""
    words = text.strip().split()
    return words[1] if len(words) > 1 and words[0] == "-ERR" else "NORMAL_TEMPORARY_FAILURE"
