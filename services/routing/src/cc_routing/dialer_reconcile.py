"""The dialer after a restart or fail-over: settle or adopt the calls the last leader left.

The previous leader's floor lived in its memory; what survives is the leads it marked
``dialing`` (the store) and the legs still on the switch (FreeSWITCH is the truth for live
calls, as for routing's own restore, :mod:`cc_routing.reconcile`, whose channel listing this
reuses). Before the new leader dials anything:

* a lead whose customer leg is live is adopted by its campaign's runtime: still ringing, it is
  followed as any dial; bridged to its agent's live leg, the conversation goes on and the agent
  stays busy until their leg ends; answered but not bridged, the 2-second grace is long over, so
  it is abandoned now (identification message, any agent leg rung for it hung up);
* a lead whose customer leg is gone is settled by the campaign's retry rules from the hangup
  note the answered leg left on the switch: bridged means connected, answered means abandoned,
  no note means it never answered (no answer). It is then due again when the rules say;
* a dialer leg nobody will own (its lead is not dialling, or its customer is gone) is hung up,
  and an agent routing restored as on a dialer call that no adopted call holds is handed back.

A lead is therefore never left ``dialing`` and never dialled twice at once: it stays
``dialing`` exactly while an adopted leg of it is live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cc_common.esl import InboundClient
from cc_common.logging import get_logger
from cc_routing.adapters.dialer_freeswitch import (
    DIALER_HANGUP_REALM,
    ROLE_DIALER_AGENT,
    ROLE_DIALER_CUSTOMER,
    DialerInput,
)
from cc_routing.adapters.freeswitch import HangupNote
from cc_routing.dialer.calls import Adopted, AdoptedCall, customer_leg, note_key
from cc_routing.dialer.campaigns import Outcome
from cc_routing.dialer_store import DialingLead
from cc_routing.reconcile import LiveChannel, hangup_notes, read_channel, read_live_channels

log = get_logger(__name__)


@dataclass(slots=True)
class Recovery:
    """What to do with the calls a previous leader left."""

    adopted: dict[str, list[AdoptedCall]] = field(default_factory=dict)
    """campaign -> its calls still live, to be taken in by its runtime"""
    gone: list[DialingLead] = field(default_factory=list)
    """leads dialling whose customer leg is gone: settle them from their hangup notes"""
    strays: list[str] = field(default_factory=list)
    """dialer legs no call will own: hang them up"""


def plan_recovery(dialing: Sequence[DialingLead], live: Sequence[LiveChannel]) -> Recovery:
    """Match the leads marked dialling with the dialer's legs live on the switch (pure)."""
    customers = {
        channel.variables.get("cc_lead", ""): channel
        for channel in live
        if channel.role == ROLE_DIALER_CUSTOMER
    }
    agents = {
        channel.variables.get("cc_dialer_customer", ""): channel
        for channel in live
        if channel.role == ROLE_DIALER_AGENT
    }
    plan = Recovery()
    owned: set[str] = set()
    for lead in dialing:
        customer = customers.get(lead.lead_id)
        if customer is None:
            plan.gone.append(lead)
            continue
        agent = agents.get(customer.uuid)
        call = _adopted(lead, customer, agent)
        plan.adopted.setdefault(lead.campaign, []).append(call)
        owned |= {call.leg, call.agent_leg or ""}
    plan.strays = [
        channel.uuid
        for channel in [*customers.values(), *agents.values()]
        if channel.uuid not in owned
    ]
    return plan


def _adopted(lead: DialingLead, customer: LiveChannel, agent: LiveChannel | None) -> AdoptedCall:
    """How one live customer leg is taken in (see :class:`Adopted`)."""
    agent_id = agent.variables.get("cc_agent") if agent is not None else None
    agent_leg = agent.uuid if agent is not None else None
    if not customer.answered:
        return AdoptedCall(customer.uuid, lead.lead_id, lead.attempt, Adopted.RINGING)
    bridged = agent is not None and customer.variables.get("bridge_uuid") == agent.uuid
    state = Adopted.CONNECTED if bridged and agent_id else Adopted.ABANDONED
    return AdoptedCall(customer.uuid, lead.lead_id, lead.attempt, state, agent_id, agent_leg)


def outcome_from_note(note: HangupNote | None) -> Outcome:
    """How an attempt that ended while no leader listened went, from its hangup note.

    The note is set when the customer answers, so none means no answer; a bridge partner means
    the customer reached an agent; answered and never bridged is an abandoned call.
    """
    if note is None:
        return Outcome.NO_ANSWER
    return Outcome.CONNECTED if note.bridged_to else Outcome.ABANDONED


def ended_meanwhile(call: AdoptedCall, answered: dict[str, bool]) -> list[DialerInput]:
    """What happened to an adopted call between the snapshot and its adoption (pure).

    ``answered`` maps the legs live now to whether they are answered. Events in that gap went
    to no floor, so a second look at the switch after adoption tells the floor instead.
    """
    if call.leg not in answered:
        cause = "NO_ANSWER" if call.state is Adopted.RINGING else "NORMAL_CLEARING"
        return [DialerInput("customer_ended", call.leg, cause)]
    if call.state is Adopted.RINGING and answered[call.leg]:
        return [DialerInput("customer_answered", call.leg)]
    if call.agent_leg is not None and call.agent_leg not in answered:
        return [DialerInput("agent_ended", call.agent_leg, "NORMAL_CLEARING")]
    return []


async def read_recovery(api: InboundClient, dialing: Sequence[DialingLead]) -> Recovery:
    """Plan the recovery from the switch's live channels (routing's own listing).

    FreeSWITCH's listing may lag a channel created a moment ago, so a lead whose leg it does
    not show is looked up by that leg's UUID (derived from the lead and attempt) before it is
    judged gone.
    """
    live = await read_live_channels(api)
    listed = {channel.uuid for channel in live}
    for lead in dialing:
        leg = customer_leg(lead.lead_id, lead.attempt)
        if leg not in listed and (channel := await read_channel(api, leg)) is not None:
            live.append(channel)
    return plan_recovery(dialing, live)


async def settle_gone(api: InboundClient, gone: Sequence[DialingLead]) -> dict[str, Outcome]:
    """The outcome of each attempt that ended while no leader listened (notes read, deleted)."""
    keys = {lead.lead_id: note_key(lead.lead_id, lead.attempt) for lead in gone}
    notes = await hangup_notes(api, list(keys.values()), DIALER_HANGUP_REALM)
    return {lead_id: outcome_from_note(notes.get(key)) for lead_id, key in keys.items()}


async def live_answered(api: InboundClient, legs: Sequence[str]) -> dict[str, bool]:
    """Which of ``legs`` are live now, and whether each is answered (asked one by one: the
    listing may lag, and a live call must never be taken for ended)."""
    found: dict[str, bool] = {}
    for leg in legs:
        channel = await read_channel(api, leg)
        if channel is not None:
            found[leg] = channel.answered
    return found
