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

After a lost link to the switch (the leader lives on, its floors in memory, but the events of
the outage are lost and the commands sent meanwhile went nowhere) each running campaign asks the
switch about every leg its floor holds (:func:`plan_link_resync`) before it dials again: what
ended is settled, what answered is connected, what was bridged is confirmed, and a hangup lost
with the link is sent again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
from cc_routing.dialer.calls import (
    Adopted,
    AdoptedCall,
    CallView,
    LegState,
    customer_leg,
    note_key,
)
from cc_routing.dialer.campaigns import Outcome
from cc_routing.dialer_store import DialingLead
from cc_routing.reconcile import (
    LiveChannel,
    hangup_notes,
    read_channel,
    read_live_channels,
    with_listing_lag,
)

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
    legs = [customer_leg(lead.lead_id, lead.attempt) for lead in dialing]
    live = await with_listing_lag(api, await read_live_channels(api), legs)
    return plan_recovery(dialing, live)


async def settle_gone(api: InboundClient, gone: Sequence[DialingLead]) -> dict[str, Outcome]:
    """The outcome of each attempt that ended while no leader listened (notes read, deleted)."""
    keys = {lead.lead_id: note_key(lead.lead_id, lead.attempt) for lead in gone}
    notes = await hangup_notes(api, list(keys.values()), DIALER_HANGUP_REALM)
    return {lead_id: outcome_from_note(notes.get(key)) for lead_id, key in keys.items()}


async def live_answered(api: InboundClient, legs: Sequence[str]) -> dict[str, bool]:
    """Which of ``legs`` are live now, and whether each is answered (asked one by one: the
    listing may lag, and a live call must never be taken for ended)."""
    return {leg: now.answered for leg, now in (await read_live_legs(api, legs)).items()}


# --- after a lost link ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveLeg:
    """A dialer leg the switch still has."""

    answered: bool
    bridged_to: str | None = None


@dataclass(slots=True)
class LinkResync:
    """What a floor missed while the link was down, and the hangups the link lost."""

    inputs: list[DialerInput] = field(default_factory=list)
    """fed to the floor in order, as the events of the outage would have been"""
    hang_up: list[str] = field(default_factory=list)
    """legs still live whose hangup was sent while the link was down"""


GONE_WHILE_RINGING = "NO_ANSWER"
"""A customer leg that ended unanswered as far as anyone knows: its answer would have set a
hangup note, and none is set before the floor hears the answer."""


def notes_wanted(calls: Sequence[CallView], live: Mapping[str, LiveLeg]) -> list[CallView]:
    """The calls whose hangup note tells how they ended: an agent leg rung, the customer gone."""
    return [c for c in calls if c.leg not in live and c.state is LegState.CONNECTING]


def plan_link_resync(
    calls: Sequence[CallView],
    held: Collection[str],
    live: Mapping[str, LiveLeg],
    notes: Mapping[str, HangupNote],
) -> LinkResync:
    """Compare a floor with the switch after a lost link (pure).

    ``calls`` are the floor's customer legs, ``held`` the agent legs the pool holds an agent
    for, ``live`` the legs the switch still has (by uuid), ``notes`` the hangup notes of the
    customers in :func:`notes_wanted` (by :func:`note_key`). Customer inputs come first, then
    every agent leg gone ends (so its agent is handed back once, after its customer settled).
    """
    plan = LinkResync()
    for call in calls:
        _customer_resync(call, live, notes, plan)
    rung = {c.agent_leg for c in calls if c.agent_leg is not None}
    for agent_leg in sorted(rung | set(held)):
        if agent_leg not in live:
            plan.inputs.append(DialerInput("agent_ended", agent_leg, "NORMAL_CLEARING"))
        elif agent_leg not in rung:
            plan.hang_up.append(agent_leg)  # released while away: its hangup went nowhere
    return plan


def _customer_resync(
    call: CallView,
    live: Mapping[str, LiveLeg],
    notes: Mapping[str, HangupNote],
    plan: LinkResync,
) -> None:
    """What one customer leg did while the link was down."""
    leg, state, agent_leg = call.leg, call.state, call.agent_leg
    now = live.get(leg)
    if now is None:
        if state is LegState.RINGING:
            plan.inputs.append(DialerInput("customer_ended", leg, GONE_WHILE_RINGING))
            return
        note = notes.get(note_key(call.lead_id, call.attempt))
        if state is LegState.CONNECTING and note is not None and note.bridged_to == agent_leg:
            plan.inputs.append(DialerInput("customer_bridged", leg))  # then ended: connected
        plan.inputs.append(DialerInput("customer_ended", leg, "NORMAL_CLEARING"))
        return
    if state is LegState.RINGING and now.answered:
        plan.inputs.append(DialerInput("customer_answered", leg))
    elif state is LegState.CONNECTING and agent_leg is not None:
        agent = live.get(agent_leg)
        if now.bridged_to == agent_leg:
            plan.inputs.append(DialerInput("customer_bridged", leg))
        elif agent is not None and agent.answered:
            plan.inputs.append(DialerInput("agent_answered", agent_leg))
    elif state in (LegState.ABANDONED, LegState.MACHINE):
        plan.hang_up.append(leg)


async def read_live_legs(api: InboundClient, legs: Collection[str]) -> dict[str, LiveLeg]:
    """Which of ``legs`` the switch still has, answered or not, bridged to what (by uuid: a
    listing may lag, and a live call must never be taken for ended)."""
    found: dict[str, LiveLeg] = {}
    for leg in sorted(legs):
        channel = await read_channel(api, leg)
        if channel is not None:
            found[leg] = LiveLeg(channel.answered, channel.variables.get("bridge_uuid"))
    return found


async def read_link_resync(
    api: InboundClient, calls: Sequence[CallView], held: Collection[str]
) -> LinkResync:
    """Ask the switch about a floor's legs and plan what it missed."""
    legs = {c.leg for c in calls} | {c.agent_leg for c in calls if c.agent_leg} | set(held)
    live = await read_live_legs(api, legs)
    keys = [note_key(c.lead_id, c.attempt) for c in notes_wanted(calls, live)]
    notes = await hangup_notes(api, keys, DIALER_HANGUP_REALM)
    return plan_link_resync(calls, held, live, notes)
