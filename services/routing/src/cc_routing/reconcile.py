"""Rebuild the ACD from what survives a restart, and re-sync it after a lost connection.

FreeSWITCH is the source of truth for live calls: each queued caller carries its queue, priority
and enqueue time in channel variables, and a bridged caller names its agent and agent leg. The
database holds configuration, agent states and booked callbacks (which have no channel). So a
fresh instance loads the database, lists the live channels, reads their variables and puts every
call back in its place, in its order; then it resumes offering.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from cc_common.esl import InboundClient
from cc_common.logging import get_logger
from cc_proto.events import AgentState
from cc_routing.adapters.dialer_freeswitch import ROLE_DIALER_AGENT
from cc_routing.adapters.freeswitch import (
    HANGUP_REALM,
    ROLE,
    ROLE_AGENT,
    ROLE_CUSTOMER,
    VAR_CALL,
    VAR_LEG,
    VAR_OFFER_AGENT,
    HangupNote,
    forget_hangup,
    is_own_leg,
    parse_hangup_note,
)
from cc_routing.adapters.store import Stored, read_configuration, read_stored
from cc_routing.core import (
    Acd,
    AgentConfig,
    BridgeCall,
    CallNotes,
    Command,
    HangupCall,
    ParkedCall,
    QueueConfig,
)
from cc_routing.core.outbound import OUTBOUND
from cc_routing.runtime import RoutingRuntime

log = get_logger(__name__)

CHANNEL_VARIABLES = (
    "cc_queue",
    "cc_priority",
    "cc_enqueued_at",
    "cc_skills",
    "cc_customer_id",
    "cc_agent",
    "cc_agent_leg",
    "cc_answered_at",
    "cc_campaign",
    "cc_lead",
    "cc_dialer_customer",
    ROLE,
    VAR_LEG,
    VAR_CALL,
    VAR_OFFER_AGENT,
    "bridge_uuid",
    "last_bridge_to",
    "caller_id_number",
    "destination_number",
)
UNSET = ("", "_undef_")
PROFILE_FIELDS = {
    "caller_id_number": "Caller-Caller-ID-Number",
    "destination_number": "Caller-Destination-Number",
}
"""Variables a channel dump holds as caller profile headers rather than ``variable_*``."""
QUEUE_ADAPTER: TypeAdapter[QueueConfig] = TypeAdapter(QueueConfig)
AGENT_ADAPTER: TypeAdapter[AgentConfig] = TypeAdapter(AgentConfig)


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """A channel FreeSWITCH has now, with the routing variables it carries."""

    uuid: str
    variables: dict[str, str]
    callstate: str = ""
    """FreeSWITCH's call state (``ACTIVE`` once answered), from ``show channels``."""

    @property
    def answered(self) -> bool:
        """Return True when the channel is answered (or beyond: held)."""
        return self.callstate in ("ACTIVE", "HELD")

    @property
    def role(self) -> str | None:
        """Return ``agent``/``customer`` for legs routing made, None for callers and others.

        The far half of a loopback pair routing originated carries the same variables but is
        not routing's leg: it has no role here (it ends with its partner).
        """
        role = self.variables.get(ROLE)
        if role is not None and not is_own_leg(self.uuid, self.variables.get(VAR_LEG)):
            return None
        return role


async def read_live_channels(api: InboundClient, *, parallel: int = 32) -> list[LiveChannel]:
    """List live channels and read their routing variables (on a connection without events).

    One ``uuid_dump`` per channel (not one ``uuid_getvar`` per variable): a restart with
    hundreds of callers parked must not stay blind for long.
    """
    rows = await api.show_channels()
    found: list[LiveChannel] = []
    for start in range(0, len(rows), parallel):
        chunk = rows[start : start + parallel]
        read = await asyncio.gather(*(read_channel(api, row.uuid, row.callstate) for row in chunk))
        found.extend(channel for channel in read if channel is not None)
    return found


LISTING_LAG_SECONDS = 0.5
"""How long FreeSWITCH's ``show channels`` may trail the switch (measured up to ~0.4 s: its core
database is written a moment after a channel is created or ends). A restore or re-sync reads the
listing this long after subscribing to events, so every channel made before the subscription is
listed and every later one comes as an event (held until the reconcile is done)."""


async def with_listing_lag(
    api: InboundClient | None, live: Sequence[LiveChannel], expected: Iterable[str | None]
) -> list[LiveChannel]:
    """Return ``live`` plus each ``expected`` channel the listing missed but the switch has.

    ``show channels`` reads FreeSWITCH's core database, which is written a moment after a
    channel is created: a leg rung just before a restart may be missing from it while it is
    alive (and bridged). Judged gone, its live conversation would be hung up. So every channel
    routing's own records name is looked up by uuid before it is taken for ended.
    """
    listed = {channel.uuid for channel in live}
    missing = sorted({uuid for uuid in expected if uuid and uuid not in listed})
    if api is None or not missing:
        return list(live)
    found = await asyncio.gather(*(read_channel(api, uuid) for uuid in missing))
    return [*live, *(channel for channel in found if channel is not None)]


async def read_channel(api: InboundClient, uuid: str, callstate: str = "") -> LiveChannel | None:
    """Read one channel's routing variables; None when it is gone already."""
    reply = await api.api(f"uuid_dump {uuid} json")
    try:
        dump = json.loads(reply.text)
    except ValueError:
        return None  # -ERR No such channel: it ended since the listing
    if not isinstance(dump, dict):
        return None
    variables: dict[str, str] = {}
    for name in CHANNEL_VARIABLES:
        value = dump.get(PROFILE_FIELDS.get(name, f"variable_{name}"))
        if isinstance(value, str) and value.strip() not in UNSET:
            variables[name] = value.strip()
    return LiveChannel(uuid, variables, callstate or str(dump.get("Channel-Call-State", "")))


async def load_configuration(runtime: RoutingRuntime) -> dict[str, AgentConfig]:
    """Configure every stored queue and agent; return the agents' configs by id.

    Agents start logged out; :func:`restore` gives them back their stored state.
    """
    queue_rows, agent_rows = await read_configuration(runtime.db, runtime.tenant)
    queues = [QUEUE_ADAPTER.validate_python(row) for row in queue_rows]
    agents = [AGENT_ADAPTER.validate_python(row) for row in agent_rows]
    await runtime.step(lambda: _configure(runtime.acd, queues, agents, runtime.now()))
    return {agent.agent_id: agent for agent in agents}


def _configure(
    acd: Acd, queues: Sequence[QueueConfig], agents: Sequence[AgentConfig], now: float
) -> list[Command]:
    commands: list[Command] = []
    for queue in queues:
        try:
            commands += acd.configure_queue(queue, now)
        except ValueError as exc:  # kept broken: its calls go to the fallback
            log.error("routing.stored_queue_invalid", queue=queue.name, error=str(exc))
    for agent in agents:
        commands += acd.upsert_agent(agent, now)
    return commands


async def restore(
    runtime: RoutingRuntime,
    live: Sequence[LiveChannel],
    agents: dict[str, AgentConfig],
    *,
    api: InboundClient | None = None,
) -> None:
    """Put back agents, calls and callbacks after a restart, then resume offering.

    Every call routing had offered is in its ledger: one FreeSWITCH still has goes back in its
    place (or back on its agent); one that ended while no instance listened is ended now, so
    its ``call.ended`` (and abandon) is published exactly once. Callers that parked meanwhile
    are offered as new calls. Read first, then decided in one step (:func:`restore_plan`).
    """
    await runtime.flushed()  # the ledger read below holds every step decided before
    stored = await read_stored(runtime.db, runtime.tenant)
    named = [uuid for row in stored.ledger for uuid in (row.call_id, row.agent_leg)]
    live = await with_listing_lag(api, live, named)
    alive = {channel.uuid for channel in live}
    gone = [row.call_id for row in stored.ledger if row.call_id not in alive]
    notes = await hangup_notes(api, gone) if api is not None else {}
    runtime.orphans.update(_left_over_legs(live, stored.ledger))
    await runtime.step(
        lambda: restore_plan(runtime.acd, stored, live, agents, notes=notes, now=runtime.now())
    )
    log.info("routing.restored", calls=len(stored.ledger), live_channels=len(live))


def restore_plan(
    acd: Acd,
    stored: Stored,
    live: Sequence[LiveChannel],
    agents: dict[str, AgentConfig],
    *,
    notes: Mapping[str, HangupNote],
    now: float,
) -> list[Command]:
    """Rebuild the core from what was stored and what the switch has (pure)."""
    _restore_agents(acd, stored.agent_states, agents, now, outbound_agents(live))
    by_uuid = {channel.uuid: channel for channel in live}
    commands: list[Command] = []
    for row in stored.ledger:
        channel = by_uuid.get(row.call_id)
        note = notes.get(row.call_id)
        commands += _restore_ledger_call(acd, now, row, channel, by_uuid, agents, note)
    known = {row.call_id for row in stored.ledger}
    left_over = _left_over_legs(live, stored.ledger)
    for channel in sorted(live, key=lambda c: float(c.variables.get("cc_enqueued_at") or now)):
        if _is_stray(channel, known):
            commands += stray_caller(acd, channel, now)
        elif channel.uuid in left_over:
            # A ring in progress when we stopped: its offer is lost, the call will be re-offered.
            agent_id = channel.variables.get(VAR_OFFER_AGENT)
            if channel.role == ROLE_AGENT and agent_id is not None:
                call_id = channel.variables.get(VAR_CALL, "")
                commands += acd.hang_up_left_over(channel.uuid, call_id, agent_id, now)
            else:
                commands.append(HangupCall(channel.uuid, "ORIGINATOR_CANCEL"))
    commands += _restore_callbacks(acd, stored.callbacks, now)
    return [*commands, *acd.resume(now)]


def _left_over_legs(live: Sequence[LiveChannel], ledger: Sequence[Any]) -> set[str]:
    """Legs routing rang (agents, callback customers) that no stored call is bridged to.

    An answered click-to-call's customer leg is its call: never left over."""
    bridged = {row.agent_leg for row in ledger if row.agent_leg}
    bridged |= {row.call_id for row in ledger if row.answered_at is not None}
    return {
        channel.uuid
        for channel in live
        if channel.role in (ROLE_AGENT, ROLE_CUSTOMER) and channel.uuid not in bridged
    }


async def hangup_notes(
    api: InboundClient, keys: Sequence[str], realm: str = HANGUP_REALM
) -> dict[str, HangupNote]:
    """Read (and delete) what callers who left while no instance listened noted at hangup."""
    found: dict[str, HangupNote] = {}
    for key in keys:
        reply = await api.api(f"hash select/{realm}/{key}")
        note = parse_hangup_note(reply.text)
        if note is not None:
            found[key] = note
            await api.api(forget_hangup(key, realm))
    return found


def _restore_ledger_call(
    acd: Acd,
    now: float,
    row: Any,
    channel: LiveChannel | None,
    live: dict[str, LiveChannel],
    agents: dict[str, AgentConfig],
    note: HangupNote | None = None,
) -> list[Command]:
    """Rebuild one call routing had offered, and end it if it ended while we were away (as
    its channel noted it, on FreeSWITCH's clock, when it did)."""
    if getattr(row, "placed_number", None) is not None:
        return _restore_placed(acd, now, row, channel, live, agents, note)
    parked = ParkedCall(
        row.call_id, row.queue, row.priority, row.enqueued_at, caller_number=row.caller_number
    )
    if channel is not None:
        try:
            parked = ParkedCall.from_variables(channel.uuid, channel.variables)
        except ValueError as exc:
            log.warning("routing.restore_variables_unreadable", call_id=row.call_id, error=str(exc))
    commands: list[Command] = []
    if row.answered_at is not None and row.agent_id in agents:
        commands += acd.restore_call(
            parked,
            now,
            answered_by=row.agent_id,
            agent_leg=row.agent_leg,
            answered_at=row.answered_at,
            notes=call_notes(row),
        )
        return commands + _settle_conversation(acd, now, row, channel, live, note)
    if row.agent_leg is not None and row.agent_id in agents:
        return commands + _restore_bridging(acd, now, row, parked, channel, live, note)
    commands += acd.restore_call(parked, now, notes=call_notes(row))
    if channel is None:
        commands += ended_while_away(acd, row.call_id, now, note, cause="ORIGINATOR_CANCEL")
    return commands


def call_notes(row: Any) -> CallNotes:
    """What the ledger row noted that the channel cannot tell: the hold, a requested cause."""
    return CallNotes(
        held_since=row.held_since,
        hold_seconds=row.hold_seconds or 0.0,
        hangup_requested=row.hangup_requested,
    )


def _restore_placed(
    acd: Acd,
    now: float,
    row: Any,
    channel: LiveChannel | None,
    live: dict[str, LiveChannel],
    agents: dict[str, AgentConfig],
    note: HangupNote | None,
) -> list[Command]:
    """A click-to-call in the ledger (its customer's leg is the call id): answered, it goes
    back on its agent, then ends as any conversation does if the customer's or the agent's leg
    is gone; not answered (the agent's phone or the customer's still ringing), it is settled
    as failed, and the rings left on the switch are hung up as left-over legs."""
    parked = ParkedCall(
        row.call_id,
        row.queue,
        enqueued_at=row.enqueued_at,
        dialed_number=row.placed_number,
        customer_id=row.customer_id,
    )
    answered = row.answered_at is not None and row.agent_id in agents
    commands = acd.restore_call(
        parked,
        now,
        placed_by=row.agent_id or "",
        answered_by=row.agent_id if answered else None,
        agent_leg=row.agent_leg,
        answered_at=row.answered_at,
        notes=call_notes(row),
    )
    if not answered:
        return commands
    return commands + _settle_conversation(acd, now, row, channel, live, note)


def _settle_conversation(
    acd: Acd,
    now: float,
    row: Any,
    channel: LiveChannel | None,
    live: dict[str, LiveChannel],
    note: HangupNote | None,
) -> list[Command]:
    """A conversation put back on its agent: ended if its caller left while we were away; if
    the agent left, the caller (still parked) is let go."""
    if channel is None:
        return ended_while_away(acd, row.call_id, now, note)
    if row.agent_leg in live:
        return []
    commands = acd.agent_hung_up(row.agent_leg, now, cause="NORMAL_CLEARING")
    return [*commands, HangupCall(row.call_id, "NORMAL_CLEARING")]


def _restore_bridging(
    acd: Acd,
    now: float,
    row: Any,
    parked: ParkedCall,
    channel: LiveChannel | None,
    live: dict[str, LiveChannel],
    note: HangupNote | None,
) -> list[Command]:
    """A call whose agent picked up and whose bridge was asked for, unconfirmed at the stop.

    Bridged now: it is answered, from the time of the pick-up. Both still there, not bridged:
    ask again. The agent gone after the caller was bridged to their leg (``last_bridge_to``):
    answered, then ended by the agent (the caller, back in park, is let go). The agent gone
    otherwise: a failed bridge (the caller goes back in line). The caller gone after its
    channel noted the agent's leg as its bridge partner: answered (from the bridge), then
    ended. The caller gone otherwise: an abandon (the agent's leg is cancelled).
    """
    commands = acd.restore_call(
        parked,
        now,
        bridging_to=row.agent_id,
        agent_leg=row.agent_leg,
        answered_at=row.bridge_requested_at,
        notes=call_notes(row),
    )
    if channel is None:
        return commands + ended_while_away(
            acd,
            row.call_id,
            now,
            note,
            bridging_to=row.agent_leg,
            bridge_requested_at=row.bridge_requested_at,
        )
    if row.agent_leg not in live:
        if channel.variables.get("last_bridge_to") == row.agent_leg:
            log.info("routing.restore_bridged_then_ended", call_id=row.call_id, agent=row.agent_id)
            commands += acd.call_bridged(row.call_id, now, bridged_at=row.bridge_requested_at)
            commands += acd.agent_hung_up(row.agent_leg, now, cause="NORMAL_CLEARING")
            return [*commands, HangupCall(row.call_id, "NORMAL_CLEARING")]
        return commands + acd.agent_hung_up(row.agent_leg, now, cause="NORMAL_CLEARING")
    if channel.variables.get("bridge_uuid") == row.agent_leg:
        return commands + acd.call_bridged(row.call_id, now, bridged_at=row.bridge_requested_at)
    return [*commands, BridgeCall(row.call_id, row.agent_leg, row.agent_id)]


def ended_while_away(
    acd: Acd,
    call_id: str,
    now: float,
    note: HangupNote | None,
    *,
    bridging_to: str | None = None,
    bridge_requested_at: float | None = None,
    cause: str = "NORMAL_CLEARING",
) -> list[Command]:
    """End a call whose hangup no instance heard, as its channel noted it (if it could).

    The one rule for restore and resync: a caller whose channel was bridged to the agent leg
    routing asked for (``bridging_to``) was answered, from the bridge, then ended; any other
    ended as it stood. Wait and talk end at FreeSWITCH's hangup time, not when routing noticed.
    """
    commands: list[Command] = []
    if note is not None and bridging_to is not None and note.bridged_to == bridging_to:
        log.info("routing.bridged_then_ended", call_id=call_id, agent_leg=bridging_to)
        bridged_at = note.bridged_at or bridge_requested_at
        commands += acd.call_bridged(call_id, now, bridged_at=bridged_at)
    hung_up_at = None if note is None else note.hung_up_at
    return commands + acd.caller_hung_up(call_id, now, cause=cause, hung_up_at=hung_up_at)


def _is_stray(channel: LiveChannel, known: set[str]) -> bool:
    """A caller waiting for a queue that routing holds no call for (not a leg routing rang,
    nor a loopback agent's phone half: those carry ``cc_role``)."""
    return (
        ROLE not in channel.variables
        and "cc_queue" in channel.variables
        and (channel.uuid not in known)
    )


def stray_caller(acd: Acd, channel: LiveChannel, now: float) -> list[Command]:
    """The one rule for a live caller routing has no record of (restore and resync alike): left
    over from a finished conversation (it carries ``cc_answered_at``): let it go; else new, or
    queued by an instance that is gone: offer it."""
    if "cc_answered_at" in channel.variables:
        return [HangupCall(channel.uuid, "NORMAL_CLEARING")]
    try:
        parked = ParkedCall.from_variables(channel.uuid, channel.variables)
    except ValueError as exc:
        log.warning("routing.restore_skipped", call_id=channel.uuid, reason=str(exc))
        return []
    return _take_in(acd, parked, now)


def outbound_agents(live: Sequence[LiveChannel]) -> dict[str, str]:
    """Agents whose dialer leg is live on the switch: agent id -> their leg."""
    return {
        channel.variables["cc_agent"]: channel.uuid
        for channel in live
        if channel.role == ROLE_DIALER_AGENT and "cc_agent" in channel.variables
    }


def _restore_agents(
    acd: Acd,
    rows: Sequence[Any],
    agents: dict[str, AgentConfig],
    now: float,
    on_dialer_legs: Collection[str] = (),
) -> None:
    """Restore each agent's stored state (on a call: available until their call is restored).

    An agent on a dialer call whose leg is still live stays on that call: the dialer adopts it
    once it starts (:mod:`cc_routing.dialer_reconcile`) and hands the agent back when it ends.
    """
    for row in rows:
        config = agents.get(row.agent_id)
        if config is None:
            continue
        state = AgentState(row.state)
        outbound = (row.reason or "").startswith(OUTBOUND)
        if state is AgentState.ON_CALL and outbound and row.agent_id in on_dialer_legs:
            acd.restore_outbound(
                config,
                reason=row.reason,
                since=row.since,
                now=now,
                calls_answered=row.calls_answered,
                talk_seconds=row.talk_seconds,
            )
            continue
        reason = row.reason
        if state is AgentState.ON_CALL:
            state = AgentState.AVAILABLE  # restore_call puts them back on their call
            reason = None  # a dialer call's reason ends with it
        acd.restore_agent(
            config,
            state=state,
            since=row.since,
            now=now,
            reason=reason,
            wrap_until=row.wrap_until,
            calls_answered=row.calls_answered,
            talk_seconds=row.talk_seconds,
        )


def _restore_callbacks(acd: Acd, rows: Sequence[Any], now: float) -> list[Command]:
    commands: list[Command] = []
    for row in rows:
        try:
            commands += acd.restore_callback(
                row.callback_id,
                queue=row.queue,
                number=row.number,
                enqueued_at=row.enqueued_at,
                now=now,
                priority=row.priority,
                skills=row.skills,
                origin_call_id=row.origin_call_id,
            )
        except ValueError as exc:
            log.error("routing.callback_not_restored", callback_id=row.callback_id, error=str(exc))
    return commands


LEG_GRACE_SECONDS = 2.0
"""An agent leg offered this recently may not be in a snapshot yet: it is not judged missing."""


async def resync(
    runtime: RoutingRuntime,
    live: Sequence[LiveChannel],
    *,
    read_at: float | None = None,
    api: InboundClient | None = None,
) -> None:
    """After a reconnect: end what vanished while we were away, take in callers we missed.

    ``read_at`` is when the snapshot was started; agent legs offered after it are left alone.
    The hangup notes of vanished callers (read through ``api``) tell an abandon from a call
    whose bridge happened unheard. Decided under the runtime's lock, so no other input
    interleaves with the comparison.
    """
    snapshot_at = runtime.now() if read_at is None else read_at
    acd = runtime.acd
    named = [*acd.active_calls(), *(leg.offer_id for leg in acd.agent_legs())]
    live = await with_listing_lag(api, live, named)
    alive = {channel.uuid for channel in live}
    gone = [call_id for call_id in runtime.acd.active_calls() if call_id not in alive]
    notes = await hangup_notes(api, gone) if api is not None else {}
    await runtime.step(
        lambda: resync_plan(
            runtime.acd, live, now=runtime.now(), snapshot_at=snapshot_at, notes=notes
        )
    )


def resync_plan(
    acd: Acd,
    live: Sequence[LiveChannel],
    *,
    now: float,
    snapshot_at: float,
    notes: Mapping[str, HangupNote],
) -> list[Command]:
    """Bring the core to the live channels (pure: the core's answer to what the switch has)."""
    alive = {channel.uuid for channel in live}
    bridging = {
        leg.call_id: leg.offer_id for leg in acd.agent_legs() if leg.call_status == "connecting"
    }
    commands: list[Command] = []
    for call_id in acd.active_calls():
        view = acd.call_view(call_id)
        if view is None or view.callback_number is not None:
            continue  # callbacks being waited on have no channel
        if call_id not in alive:
            note = notes.get(call_id)
            commands += ended_while_away(acd, call_id, now, note, bridging_to=bridging.get(call_id))
    answered = {channel.uuid for channel in live if channel.answered}
    for leg in acd.agent_legs():
        if leg.call_id not in alive:
            continue  # its caller's hangup above has dealt with it
        if leg.offer_id in alive:
            if leg.ringing and leg.offer_id in answered:  # picked up while we were away
                commands += acd.agent_answered(leg.offer_id, now)
            continue
        if leg.started_at > snapshot_at - LEG_GRACE_SECONDS:
            continue
        if leg.ringing:  # the ring ended while we were away: nobody's fault, offer again
            commands += acd.agent_hung_up(leg.offer_id, now, cause="ORIGINATOR_CANCEL")
            continue
        commands += acd.agent_hung_up(leg.offer_id, now, cause="NORMAL_CLEARING")
        if leg.call_status == "connected":  # the agent left the conversation: so does the caller
            commands.append(HangupCall(leg.call_id, "NORMAL_CLEARING"))
    for closing, since in acd.legs_hanging_up():  # their ends were lost with the link
        if closing not in alive and since <= snapshot_at - LEG_GRACE_SECONDS:
            commands += acd.agent_hung_up(closing, now, cause="ORIGINATOR_CANCEL")
    known = set(acd.active_calls())
    for channel in live:
        if _is_stray(channel, known):
            commands += stray_caller(acd, channel, now)
    return [*commands, *acd.resume(now)]


def _take_in(acd: Acd, parked: ParkedCall, now: float) -> list[Command]:
    """A waiting caller: back in its place if routing had queued it, else newly offered.

    ``cc_enqueued_at`` is written when routing queues a call, so a caller without it parked
    while no instance was listening and has never been offered: it must be, publicly.
    """
    if parked.enqueued_at is None:
        return acd.call_arrived(parked, now)
    return acd.restore_call(parked, now)
