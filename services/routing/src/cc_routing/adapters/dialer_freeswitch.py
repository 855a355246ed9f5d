"""Between the outbound floor (:mod:`cc_routing.dialer.calls`) and FreeSWITCH, both ways.

Pure functions; the dialer's runtime sends the lines with ``bgapi`` on routing's ESL connection.
Dialer legs carry ``cc_role`` ``dialer_customer`` or ``dialer_agent`` so the ACD's own event
handling (which knows ``agent`` and ``customer``) never mistakes them for its calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cc_common.esl import EslEvent
from cc_routing.adapters.freeswitch import (
    ROLE,
    VAR_LEG,
    forget_hangup,
    hangup_hook,
    is_own_leg,
)
from cc_routing.dialer.calls import (
    Bridge,
    Command,
    ForgetHangup,
    Hangup,
    NoteHangup,
    OriginateAgent,
    OriginateCustomer,
    Park,
    PlayAndHangup,
)

ROLE_DIALER_CUSTOMER = "dialer_customer"
ROLE_DIALER_AGENT = "dialer_agent"
AVMD_BEEP = "avmd::beep"
AVMD_START = "avmd_start inbound_channel=0,outbound_channel=1"
"""mod_avmd's ``avmd_start`` application, run on the customer's leg as it answers
(``execute_on_answer``), reading what the customer sends. The ``avmd <uuid> start`` API never
fires a beep: in FreeSWITCH 1.10 it leaves the session's settings (detector count, mode) empty;
only the application fills them."""
DIALER_HANGUP_REALM = "cc_dialer_hangup"
"""mod_hash realm of answered customers' hangup notes, kept under ``<lead>.<attempt>``."""
AGENT_RING_TIMEOUT = 10
_UNSAFE = re.compile(r"[\s,'{}\[\]]")


def _vars(pairs: dict[str, str]) -> str:
    """An originate ``{...}`` block, values quoted where FreeSWITCH needs it."""

    def one(name: str, value: str) -> str:
        value = value.replace("'", "")
        if _UNSAFE.search(value):
            value = "'" + value.replace(",", "\\,") + "'"
        return f"{name}={value}"

    return "{" + ",".join(one(k, v) for k, v in pairs.items()) + "}"


def to_esl(command: Command, *, dial_string: Callable[[str], str]) -> list[str]:
    """The API commands (for ``bgapi``) that carry out one floor command.

    ``dial_string`` turns an E.164 number into what to originate (a gateway, a loopback...).
    """
    match command:
        case OriginateCustomer():
            variables = _vars(
                {
                    "origination_uuid": command.leg,
                    ROLE: ROLE_DIALER_CUSTOMER,
                    VAR_LEG: command.leg,
                    "cc_campaign": command.campaign,
                    "cc_lead": command.lead_id,
                    "originate_timeout": str(max(1, round(command.timeout_seconds))),
                    "ignore_early_media": "true",
                    "origination_caller_id_number": command.caller_id,
                    "hangup_after_bridge": "true",
                }
                | ({"execute_on_answer": AVMD_START} if command.detect_machine else {})
            )
            target = dial_string(command.number)
            return [f"originate {variables}{target} &park()"]
        case OriginateAgent():
            variables = _vars(
                {
                    "origination_uuid": command.leg,
                    ROLE: ROLE_DIALER_AGENT,
                    VAR_LEG: command.leg,
                    "cc_dialer_customer": command.customer_leg,
                    "cc_agent": command.agent_id,
                    "originate_timeout": str(AGENT_RING_TIMEOUT),
                    "ignore_early_media": "true",
                    "hangup_after_bridge": "true",
                }
            )
            return [f"originate {variables}{command.contact} &park()"]
        case Bridge():
            return [f"uuid_bridge {command.customer_leg} {command.agent_leg}"]
        case Park():
            return [f"uuid_park {command.leg}"]
        case PlayAndHangup():
            return [f"uuid_broadcast {command.leg} {command.message} aleg"]  # then a timed kill
        case Hangup():
            return [f"uuid_kill {command.leg} {command.cause}"]
        case NoteHangup():
            return [hangup_hook(command.leg, command.key, DIALER_HANGUP_REALM)]
        case ForgetHangup():
            return [forget_hangup(command.key, DIALER_HANGUP_REALM)]
    return []


@dataclass(frozen=True, slots=True)
class DialerInput:
    """What a FreeSWITCH event means to the floor."""

    kind: str
    """customer_answered, customer_bridged, customer_ended, agent_answered, agent_ended, machine"""
    leg: str
    cause: str | None = None


def classify(event: EslEvent) -> DialerInput | None:
    """Turn one FreeSWITCH event about a dialer leg into a floor input, or None."""
    leg = event.unique_id
    if leg is None:
        return None
    if event.name == "CUSTOM" and event.subclass == AVMD_BEEP:
        # mod_avmd's events carry no channel variables: the floor knows its own legs.
        return DialerInput("machine", leg)
    role = event.variable(ROLE)
    if not is_own_leg(leg, event.variable(VAR_LEG)):
        return None  # the far half of a loopback pair the dialer originated
    side = {ROLE_DIALER_CUSTOMER: "customer", ROLE_DIALER_AGENT: "agent"}.get(role or "")
    if side is None:
        return None
    match event.name:
        case "CHANNEL_ANSWER" if side == "customer":
            return DialerInput("customer_answered", leg)
        case "CHANNEL_PARK" if side == "agent":
            # Parked = answered and its originate job done: bridging earlier would end that job
            # ORIGINATOR_CANCEL on the real switch.
            return DialerInput("agent_answered", leg)
        case "CHANNEL_BRIDGE" if side == "customer":
            return DialerInput("customer_bridged", leg)
        case "CHANNEL_HANGUP_COMPLETE":
            return DialerInput(f"{side}_ended", leg, event.hangup_cause or "NORMAL_CLEARING")
    return None
