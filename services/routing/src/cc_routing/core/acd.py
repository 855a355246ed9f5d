"""The ACD core's public surface: configuration, agent actions, call events, queries.

Every method takes ``now`` (epoch seconds from the adapter's clock or FreeSWITCH's event time)
and returns the commands to carry out, in order. Nothing here reads a clock, does I/O or awaits.
A clock that steps backwards is held at the latest time seen, so durations never go negative.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from cc_proto.events import (
    AgentLoggedIn,
    AgentState,
    CallAbandoned,
    CallBlocked,
    CallCallbackRequested,
    CallDispositioned,
    CallHeld,
    CallOutcome,
    CallPlaced,
    CallResumed,
    CallTransferred,
)
from cc_routing.core._engine import Engine
from cc_routing.core.agents import Agent, ClosingLeg
from cc_routing.core.calls import MAX_PRIORITY, Call, CallStatus, Offer, ParkedCall
from cc_routing.core.commands import (
    CancelOffer,
    Command,
    HangupCall,
    HoldCall,
    ParkCaller,
    PlayMusicOnHold,
    ReleaseCaller,
    ReportProblem,
    TransferOut,
)
from cc_routing.core.config import (
    AgentConfig,
    CompiledQueue,
    ConfigError,
    Destination,
    QueueConfig,
    check_agent,
    check_destination,
    compile_queue,
)
from cc_routing.core.explain import Decision
from cc_routing.core.expressions import ExpressionError, Requirement, parse_requirement
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.strategies import order_key
from cc_routing.core.timers import Timer


class RoutingError(ValueError):
    """A request that does not fit the current state (unknown agent, wrong state...)."""


@dataclass(frozen=True, slots=True)
class AgentLegView:
    """An agent leg routing believes exists: ringing, or answered for its call."""

    offer_id: str
    call_id: str
    agent_id: str
    ringing: bool
    call_status: str
    started_at: float


@dataclass(frozen=True, slots=True)
class CallView:
    """Where a call stands, for the API and announcements."""

    call_id: str
    queue: str
    status: str
    priority: int
    enqueued_at: float
    wait_seconds: float
    position: int | None
    estimated_wait_seconds: float | None
    agent_id: str | None
    callback_number: str | None
    skills: str | None = None
    """The call's own requirement (``cc_skills``), kept so a stored callback keeps it."""
    direction: str = "inbound"
    """``outbound`` for an agent's click-to-call."""
    dialed_number: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """A queue's live figures (the KPIs' live gauges come from the same numbers)."""

    queue: str
    calls: int
    waiting: int
    ringing: int
    callbacks: int
    oldest_wait_seconds: float | None
    staffed: int
    offerable: int
    agents_by_state: dict[str, int]
    estimated_wait_seconds: float | None
    service_level: float
    service_level_target: float


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent's live state."""

    agent_id: str
    state: str
    since: float
    reason: str | None
    offerable: bool
    call_id: str | None
    pending: str | None
    calls_answered: int
    talk_seconds: float
    no_answer_count: int
    wrap_until: float | None = None
    """When the wrap-up ends (only in wrap-up), kept so a restart keeps it."""


def _uuid4() -> str:
    """Return a fresh agent-leg uuid: FreeSWITCH refuses or mixes up a uuid seen before."""
    return str(uuid.uuid4())


def _cause(cause: str) -> str:
    """Keep FreeSWITCH's hangup cause; an empty one becomes UNSPECIFIED (its name for none)."""
    cause = (cause or "").strip()
    return cause[:200] if cause else "UNSPECIFIED"


_BUSY = frozenset({AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})
OUTBOUND = "outbound:"
"""The reason of an agent on a dialer call starts so, then names the campaign."""
_AWAY = frozenset({AgentState.BREAK, AgentState.NOT_READY})


class Acd(Engine):
    """Skills-based automatic call distributor: pure, deterministic given its inputs and RNG."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        new_id: Callable[[], str] | None = None,
        fallback: Destination | None = None,
        known_skills: Collection[str] | None = None,
        break_reasons: Collection[str] | None = None,
        not_ready_reasons: Collection[str] | None = None,
        explain: bool = True,
        explain_capacity: int = 1000,
    ) -> None:
        """Set up an empty ACD; ``rng`` drives the random strategy and generated leg uuids.

        Without ``rng`` (a real deployment) agent legs get fresh uuid4s, unique in every
        process; a seeded ``rng`` (tests, simulations) numbers them reproducibly.
        """
        if fallback is not None:
            check_destination(fallback, "the platform fallback")
        if new_id is None and rng is None:
            new_id = _uuid4
        super().__init__(
            rng=rng if rng is not None else random.Random(),
            new_id=new_id,
            fallback=fallback or Destination("hangup", "NORMAL_CLEARING"),
            known_skills=known_skills,
            explain=explain,
            explain_capacity=explain_capacity,
        )
        self._break_reasons = frozenset(break_reasons) if break_reasons is not None else None
        self._not_ready_reasons = (
            frozenset(not_ready_reasons) if not_ready_reasons is not None else None
        )

    # --- configuration -------------------------------------------------------------------------

    def configure_queue(self, config: QueueConfig, now: float) -> list[Command]:
        """Create or change a queue; a bad config raises ConfigError and changes nothing.

        A queue that never had a valid config is remembered as broken: calls parked for it go to
        its fallback instead of being refused as unknown.
        """
        out = self._begin(now)
        try:
            compiled = compile_queue(config, known_skills=self._known_skills)
        except ConfigError as exc:
            if config.name not in self._queues:
                self._broken[config.name] = (config.fallback, str(exc))
            raise
        self._broken.pop(config.name, None)
        queue = self._queues.get(config.name)
        if queue is None:
            queue = QueueRuntime(compiled, self._now)
            self._queues[config.name] = queue
            for agent in self._agents.values():
                if config.name in agent.config.tiers:
                    self._join(agent, queue)
        else:
            self._reconfigure(queue, compiled)
        self._rebalance(queue, out)
        return out

    def _reconfigure(self, queue: QueueRuntime, compiled: CompiledQueue) -> None:
        """Swap a queue's config in place: re-key its index, re-derive its calls' requirements."""
        queue.compiled = compiled
        for agent_id in list(queue.index.key_of):
            agent = queue.index.agents[agent_id]
            tier = agent.config.tiers[queue.name]
            queue.index.add(agent, order_key(compiled.config.strategy, tier, agent))
        for call in queue.calls():
            call.step = queue.step_at(call.enqueued_at, self._now)
            self._apply_step(call, queue)
            call.visit += 1
            self._arm(call, queue)

    def _join(self, agent: Agent, queue: QueueRuntime) -> None:
        """Make an agent a member of a queue: membership, staffing and index."""
        queue.members[agent.agent_id] = agent
        if agent.state in (AgentState.AVAILABLE, *_BUSY):
            queue.staffed += 1
            queue.unstaffed_since = None
        if agent.offerable(self._now):
            tier = agent.config.tiers[queue.name]
            queue.index.add(agent, order_key(queue.config.strategy, tier, agent))

    def _part(self, agent: Agent, queue: QueueRuntime) -> None:
        """Remove an agent from a queue's membership."""
        queue.members.pop(agent.agent_id, None)
        queue.index.remove(agent.agent_id)
        if agent.state in (AgentState.AVAILABLE, *_BUSY):
            queue.staffed -= 1
            if queue.staffed == 0:
                queue.unstaffed_since = self._now
                self._arm_no_agents(queue)

    def _rebalance(self, queue: QueueRuntime, out: list[Command]) -> None:
        """Offer every waiting call of a queue that an offerable agent now fits."""
        for call in queue.calls():
            if not len(queue.index):
                return
            if call.status is CallStatus.WAITING:
                self._route(call, out, "rebalance")

    def remove_queue(self, name: str, now: float) -> list[Command]:
        """Delete an empty queue (a queue with calls is refused: nothing may be lost)."""
        out = self._begin(now)
        queue = self._queues.get(name)
        if queue is None:
            self._broken.pop(name, None)
            return out
        if len(queue):
            raise RoutingError(f"queue {name!r} still holds {len(queue)} calls")
        if any(call.queue == name for call in self._calls.values()):
            raise RoutingError(f"queue {name!r} still has calls placed or transferred to agents")
        for agent in list(queue.members.values()):
            self._part(agent, queue)
        del self._queues[name]
        return out

    def upsert_agent(self, config: AgentConfig, now: float) -> list[Command]:
        """Add an agent (logged out) or change one's contact, skills, tiers or timers."""
        check_agent(config)
        out = self._begin(now)
        agent = self._agents.get(config.agent_id)
        if agent is None:
            agent = Agent(config, self._now)
            self._agents[config.agent_id] = agent
            for name in config.tiers:
                if name in self._queues:
                    self._join(agent, self._queues[name])
            return out
        old = agent.config
        for name in old.tiers:
            if name in self._queues:
                self._part(agent, self._queues[name])
        agent.config = config
        agent.indexed = False
        for name in config.tiers:
            if name in self._queues:
                self._join(agent, self._queues[name])
        agent.indexed = agent.offerable(self._now)
        self._serve(agent, out)
        return out

    def remove_agent(self, agent_id: str, now: float) -> list[Command]:
        """Forget a logged-out agent."""
        out = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} must log out before being removed")
        for name in agent.config.tiers:
            if name in self._queues:
                self._part(agent, self._queues[name])
        del self._agents[agent_id]
        return out

    # --- agent actions -------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id!r}")
        return agent

    def _check_reason(self, state: AgentState, reason: str | None) -> None:
        allowed = self._break_reasons if state is AgentState.BREAK else self._not_ready_reasons
        if allowed is not None and reason not in allowed:
            raise RoutingError(f"{state.value} reason {reason!r} is not one of {sorted(allowed)}")

    def login(
        self,
        agent_id: str,
        now: float,
        *,
        state: AgentState = AgentState.AVAILABLE,
        reason: str | None = None,
    ) -> list[Command]:
        """Start an agent's shift, available or straight into a break / not-ready."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is already logged in ({agent.state.value})")
        if state not in (AgentState.AVAILABLE, *_AWAY):
            raise RoutingError(f"an agent logs in available, on break or not ready, not {state}")
        if state in _AWAY:
            self._check_reason(state, reason)
        out = self._begin(now)
        config = agent.config
        agent.calls_answered = 0
        agent.talk_seconds = 0.0
        agent.no_answer_count = 0
        agent.ready_at = 0.0
        agent.pending = None
        self._emit(
            out,
            AgentLoggedIn(
                queues=sorted(config.tiers),
                skills=dict(config.skills),
                team=config.team,
                contact=config.contact,
            ),
            agent_id=agent_id,
        )
        self._set_state(agent, state, out, reason=reason if state in _AWAY else None)
        self._serve(agent, out)
        return out

    def logout(self, agent_id: str, now: float, *, reason: str | None = None) -> list[Command]:
        """End a shift; on a call it takes effect when the call ends (no wrap-up)."""
        agent = self._agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is not logged in")
        out = self._begin(now)
        if agent.state is AgentState.ON_CALL or self._connecting(agent):
            agent.pending = (AgentState.LOGGED_OUT, reason)
            return out
        if agent.state is AgentState.RESERVED:
            self._withdraw_offer(agent, out, "agent_logged_out")
            agent.pending = None
        self._log_out(agent, out, reason)
        return out

    def _connecting(self, agent: Agent) -> bool:
        """Whether the agent picked up and waits for the bridge or a callback's customer."""
        offer = agent.offer
        return offer is not None and offer.call.status in (
            CallStatus.CONNECTING,
            CallStatus.DIALING,
        )

    def _withdraw_offer(self, agent: Agent, out: list[Command], reason: str) -> None:
        """Stop ringing an agent who left; the call keeps its place and looks for someone else."""
        offer = agent.offer
        if offer is None or not offer.active:
            return
        call = offer.call
        offer.active = False
        self._offers.pop(offer.offer_id, None)
        call.offers.pop(offer.offer_id, None)
        agent.offer = None
        self._hang_up_leg(offer.offer_id, call.call_id, agent, reason, out)
        if call.direct_to is not None:
            self._direct_missed(call, reason, out)
        elif call.status is CallStatus.RINGING and not call.offers:
            call.status = CallStatus.WAITING
            if not self._leave_if_due(call, out):
                self._route(call, out, "retry")

    def set_break(self, agent_id: str, reason: str, now: float) -> list[Command]:
        """Put an agent on break (after the current call and wrap-up, if busy)."""
        return self._go_away(agent_id, AgentState.BREAK, reason, now)

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> list[Command]:
        """Make an agent not ready (after the current call and wrap-up, if busy)."""
        return self._go_away(agent_id, AgentState.NOT_READY, reason, now)

    def _go_away(self, agent_id: str, state: AgentState, reason: str, now: float) -> list[Command]:
        agent = self._agent(agent_id)
        self._check_reason(state, reason)
        if agent.state is AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is not logged in")
        out = self._begin(now)
        if agent.state in _BUSY:
            agent.pending = (state, reason)
            return out
        self._set_state(agent, state, out, reason=reason)
        return out

    def set_available(self, agent_id: str, now: float) -> list[Command]:
        """Make an agent ready: from a break or not-ready, or ending wrap-up early."""
        agent = self._agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is not logged in; log in first")
        out = self._begin(now)
        agent.pending = None
        if agent.state in _AWAY:
            agent.no_answer_count = 0
            agent.ready_at = 0.0
            self._set_state(agent, AgentState.AVAILABLE, out)
            self._serve(agent, out)
        elif agent.state is AgentState.WRAP_UP:
            agent.token += 1
            self._after_work(agent, out)
        return out

    def end_wrap_up(self, agent_id: str, now: float) -> list[Command]:
        """Finish wrap-up before its timer (what the agent's 'ready' button does)."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.WRAP_UP:
            raise RoutingError(f"agent {agent_id!r} is not in wrap-up ({agent.state.value})")
        out = self._begin(now)
        if agent.state is AgentState.WRAP_UP:
            agent.token += 1
            self._after_work(agent, out)
        return out

    def extend_wrap_up(self, agent_id: str, seconds: float, now: float) -> list[Command]:
        """Give an agent ``seconds`` more wrap-up than the timer had left."""
        agent = self._agent(agent_id)
        if not seconds > 0:
            raise RoutingError("a wrap-up extension must be a positive number of seconds")
        if agent.state is not AgentState.WRAP_UP:
            raise RoutingError(f"agent {agent_id!r} is not in wrap-up ({agent.state.value})")
        out = self._begin(now)
        if agent.state is AgentState.WRAP_UP:
            agent.wrap_until = max(agent.wrap_until, self._now) + seconds
            agent.token += 1
            self._timers.set(agent.wrap_until, self._on_wrap_up_end, agent, agent.token)
        return out

    def dispose_call(
        self, agent_id: str, code: str, now: float, *, resolved: bool | None = None
    ) -> list[Command]:
        """Record the agent's disposition (reason code) for the call they are on or wrapping."""
        agent = self._agent(agent_id)
        call = agent.call or agent.last_call
        if call is None or agent.state not in (AgentState.ON_CALL, AgentState.WRAP_UP):
            raise RoutingError(f"agent {agent_id!r} has no call to disposition")
        queue = self._queues.get(call.queue)
        if not code or not code.strip() or len(code) > 200:
            raise RoutingError("a disposition code must be 1-200 characters")
        codes = queue.config.disposition_codes if queue is not None else None
        if codes is not None and code not in codes:
            raise RoutingError(f"disposition {code!r} is not one of {sorted(codes)}")
        out = self._begin(now)
        self._emit(
            out,
            CallDispositioned(code=code, resolved=resolved, queue=call.queue),
            call.call_id,
            agent_id,
        )
        return out

    # --- outbound (the dialer's calls) ------------------------------------------------------------

    def outbound_free(self, agent_ids: Collection[str], teams: Collection[str]) -> dict[str, str]:
        """Agents (by id or team) who could take an outbound call now: id -> contact.

        The same test as for an inbound offer (available and past any no-answer delay), so an
        agent serving queues and a campaign is offered work by one of them at a time.
        """
        return {
            agent.agent_id: agent.config.contact
            for agent in self._agents.values()
            if (agent.agent_id in agent_ids or agent.config.team in teams)
            and agent.offerable(self._now)
        }

    def take_for_outbound(self, agent_id: str, campaign: str, now: float) -> list[Command]:
        """The dialer connects a customer to this agent: on a call, so no queue offers them one.

        Refused (:class:`RoutingError`) unless the agent is free this very moment: a queue may
        have offered them a call since the dialer last looked.
        """
        agent = self._agent(agent_id)
        out = self._begin(now)
        if not agent.offerable(self._now):
            raise RoutingError(f"agent {agent_id!r} is not free ({agent.state.value})")
        agent.last_call = None
        self._set_state(agent, AgentState.ON_CALL, out, reason=f"{OUTBOUND}{campaign}")
        return out

    def outbound_ended(
        self, agent_id: str, now: float, *, wrap_up_seconds: float | None = None
    ) -> list[Command]:
        """The agent's outbound call is over: wrap-up (the campaign's ``wrap_up_seconds``, or
        the agent's own, as after a queue call), then a pending break or available again; a
        pending logout at once."""
        agent = self._agents.get(agent_id)
        if agent is None or not self.on_outbound(agent_id):
            return []
        out = self._begin(now)
        wrap = agent.config.wrap_up_seconds if wrap_up_seconds is None else wrap_up_seconds
        self._wrap_up_or_next(agent, wrap, out, None)
        return out

    def restore_outbound(
        self,
        config: AgentConfig,
        *,
        reason: str,
        since: float,
        now: float,
        calls_answered: int = 0,
        talk_seconds: float = 0.0,
    ) -> list[Command]:
        """Rebuild an agent still on a dialer call after a restart (their leg is live on the
        switch), publishing nothing: on a call with the campaign's reason, so no queue offers
        them one until the dialer that adopts the call hands them back (:meth:`outbound_ended`).
        """
        if not reason.startswith(OUTBOUND):
            raise RoutingError(f"{reason!r} is not the reason of an outbound call")
        out = self.restore_agent(
            config,
            state=AgentState.AVAILABLE,
            since=since,
            now=now,
            calls_answered=calls_answered,
            talk_seconds=talk_seconds,
        )
        agent = self._agents[config.agent_id]
        self._quiet_state(agent, AgentState.ON_CALL, since, reason)
        agent.last_call = None
        self._reindex(agent)
        return out

    def outbound_agents(self) -> list[str]:
        """Agents on a call the dialer gave them."""
        return [agent_id for agent_id in self._agents if self.on_outbound(agent_id)]

    def on_outbound(self, agent_id: str) -> bool:
        """Whether the agent is on a call the dialer gave them."""
        agent = self._agents.get(agent_id)
        return (
            agent is not None
            and agent.state is AgentState.ON_CALL
            and agent.call is None
            and (agent.reason or "").startswith(OUTBOUND)
        )

    # --- call events from the switch -----------------------------------------------------------

    def call_arrived(self, parked: ParkedCall, now: float) -> list[Command]:
        """A caller was parked for a queue: offer them to an agent or queue them.

        An unknown or broken queue sends the call to its fallback (never dropped); a malformed
        per-call skill expression is reported and ignored (the queue's own requirement applies).
        """
        out = self._begin(now)
        if parked.call_id in self._calls:
            out.append(
                ReportProblem(
                    "duplicate_call", "call is already in routing", call_id=parked.call_id
                )
            )
            return out
        own = self._call_requirement(parked, out)
        call = Call(parked, own, self._now)
        call.priority = self._priority(parked, out)
        queue = self._queues.get(parked.queue)
        if queue is None:
            self._unknown_queue(call, out)
        else:
            self._enter(call, queue, out)
        return out

    def _priority(self, parked: ParkedCall, out: list[Command]) -> int:
        """Return the call's priority held to the contract's 0-100, reporting a clamp."""
        priority = min(max(parked.priority, 0), MAX_PRIORITY)
        if priority != parked.priority:
            out.append(
                ReportProblem(
                    "bad_priority",
                    f"priority {parked.priority} outside 0-{MAX_PRIORITY}, using {priority}",
                    call_id=parked.call_id,
                    queue=parked.queue,
                )
            )
        return priority

    def _call_requirement(self, parked: ParkedCall, out: list[Command]) -> Requirement | None:
        if not parked.skills:
            return None
        try:
            return parse_requirement(parked.skills, known_skills=self._known_skills)
        except ExpressionError as exc:
            out.append(
                ReportProblem(
                    "bad_call_requirement",
                    f"cc_skills ignored: {exc}",
                    call_id=parked.call_id,
                    queue=parked.queue,
                )
            )
            return None

    def _unknown_queue(self, call: Call, out: list[Command]) -> None:
        """Park for a queue we do not have: report, publish and send to the fallback."""
        broken = self._broken.get(call.queue)
        if broken is not None:
            target = broken[0] or self._fallback
            reason, message = "closed", f"queue {call.queue!r} is misconfigured: {broken[1]}"
        else:
            target = self._fallback
            reason, message = "unknown_queue", f"no queue named {call.queue!r}"
        out.append(ReportProblem(reason, message, call_id=call.call_id, queue=call.queue))
        self._emit(
            out,
            CallBlocked(queue=call.queue, reason=reason, routed_to=str(target)),
            call.call_id,
        )
        self._send(call, target, out, CallOutcome.BLOCKED, reason)

    def _offer_for(self, offer_id: str, out: list[Command], what: str) -> Offer | None:
        offer = self._offers.get(offer_id)
        if offer is None:
            out.append(ReportProblem("unknown_agent_leg", f"{what}: no offer {offer_id}"))
        return offer

    def agent_answered(self, offer_id: str, now: float) -> list[Command]:
        """The agent leg ``offer_id`` answered: bridge (or, for a callback, dial the customer)."""
        out = self._begin(now)
        offer = self._offer_for(offer_id, out, "agent answered")
        if offer is None:
            return out
        if not offer.active:
            out.append(ReportProblem("stale_agent_leg", f"offer {offer_id} is no longer ringing"))
            return out
        if offer.call.is_callback:
            self._dial_customer(offer.call, offer, out)
        else:
            self._bridge(offer.call, offer, out)
        return out

    def call_bridged(
        self, call_id: str, now: float, *, bridged_at: float | None = None
    ) -> list[Command]:
        """FreeSWITCH bridged the caller to the agent who answered: the call is answered now.

        ``bridged_at`` is when that happened if it was learnt later (a restore): wait and talk
        are measured from it, not from when routing noticed.
        """
        out = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.status is not CallStatus.CONNECTING or call.offer is None:
            return out  # a callback's bridge, or a caller routing already let go
        self._connect(call, call.offer, out, at=bridged_at)
        return out

    def bridge_failed(self, offer_id: str, now: float) -> list[Command]:
        """FreeSWITCH refused the bridge: hang up the agent leg.

        Its hangup (:meth:`agent_hung_up`, no fault of the agent's) puts the caller back in
        their place; if the caller is what vanished, their own hangup makes it an abandon.
        """
        out = self._begin(now)
        offer = self._offers.get(offer_id)
        if offer is not None and offer.call.status is CallStatus.CONNECTING:
            call = offer.call
            out.append(CancelOffer(offer_id, call.call_id, offer.agent.agent_id, "bridge_failed"))
        return out

    def offer_failed(self, offer_id: str, cause: str, now: float) -> list[Command]:
        """The agent leg ended without answering (``cause`` is FreeSWITCH's hangup cause)."""
        cause = _cause(cause)
        out = self._begin(now)
        offer = self._offers.get(offer_id)
        if offer is not None and offer.active:
            self._miss(offer, cause, out)
        self._leg_gone(offer_id, out)  # our own hangup coming back: the phone is free
        return out

    def agent_hung_up(
        self, offer_id: str, now: float, *, cause: str = "NORMAL_CLEARING"
    ) -> list[Command]:
        """The agent leg hung up: a miss while ringing, the end of the conversation after it."""
        cause = _cause(cause)
        out = self._begin(now)
        self._leg_gone(offer_id, out)
        offer = self._offers.get(offer_id)
        if offer is None:
            return out
        call = offer.call
        if offer.active:
            self._miss(offer, cause, out)
        elif call.status is CallStatus.DIALING:
            out.append(HangupCall(call.call_id, "ORIGINATOR_CANCEL"))
            self._callback_failed(call, "AGENT_HANGUP", out)
        elif call.status is CallStatus.CONNECTING:
            self._bridge_failed(call, offer, cause, out)
        elif call.status is CallStatus.CONNECTED:
            self._finish(call, out, "agent", cause)
        return out

    def caller_hung_up(
        self,
        call_id: str,
        now: float,
        *,
        cause: str = "NORMAL_CLEARING",
        hung_up_at: float | None = None,
    ) -> list[Command]:
        """The caller (or callback customer) hung up: abandon if waiting, end if talking.

        ``hung_up_at`` is FreeSWITCH's time of the hangup when it is learnt later (it happened
        while no instance listened): wait and talk are measured to it, not to ``now``.
        """
        cause = _cause(cause)
        out = self._begin(now)
        call = self._calls.get(call_id)
        if call is None:
            return out
        at = None if hung_up_at is None else min(hung_up_at, self._now)
        if call.status is CallStatus.CONNECTED:
            self._agent_leg_follows(call)
            self._finish(call, out, "caller", cause, at=at)
        elif call.direct_to is not None and not call.placed:
            self._transfer_abandoned(call, out, cause)
        elif call.status is CallStatus.DIALING:
            self._callback_failed(call, cause, out)
        elif not call.is_callback:
            self._abandon(call, out, cause, at=at)
        return out

    def customer_answered(self, call_id: str, now: float) -> list[Command]:
        """The callback customer picked up: bridge them to the waiting agent."""
        out = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.status is not CallStatus.DIALING or call.offer is None:
            out.append(ReportProblem("unknown_callback", f"no callback being dialled: {call_id}"))
            return out
        self._connect(call, call.offer, out)
        return out

    def customer_unreachable(self, call_id: str, cause: str, now: float) -> list[Command]:
        """The callback dial failed: the agent is freed, the callback retried or given up."""
        cause = _cause(cause)
        out = self._begin(now)
        call = self._calls.get(call_id)
        if call is not None and call.status is CallStatus.DIALING:
            self._callback_failed(call, cause, out)
        return out

    def request_callback(self, call_id: str, number: str, now: float) -> list[Command]:
        """The caller leaves the line to be called back, keeping their place and enqueue time."""
        call = self._calls.get(call_id)
        if (
            call is None
            or call.is_callback
            or call.status
            not in (
                CallStatus.WAITING,
                CallStatus.RINGING,
            )
        ):
            raise RoutingError(f"call {call_id!r} is not waiting in a queue")
        if not number or not number.strip():
            raise RoutingError("a callback needs a number to call")
        out = self._begin(now)
        if self._calls.get(call_id) is not call or call.status not in (
            CallStatus.WAITING,
            CallStatus.RINGING,
        ):
            return out  # it was answered or left while the timers caught up
        queue = self._queues[call.queue]
        position = queue.position(call)
        freed = self._cancel_offers(call, out, "callback_requested")
        callback = self._callback_entry(call, number.strip())
        queue.replace(call, callback)
        self._calls[callback.call_id] = callback
        self._callback_of[call_id] = callback.call_id
        self._emit(
            out,
            CallCallbackRequested(
                queue=queue.name,
                callback_number=callback.callback_number or number,
                wait_seconds=max(self._now - call.enqueued_at, 0.0),
                position=position,
                callback_call_id=callback.call_id,
                priority=call.priority,
            ),
            call_id,
        )
        out.append(ReleaseCaller(call_id, "callback_requested"))
        self._end(call, out, CallOutcome.CALLBACK, "NORMAL_CLEARING", "system")
        self._arm(callback, queue)
        for agent in freed:  # they take the head of the line, which may be this callback
            self._serve(agent, out)
        return out

    def hang_up(self, call_id: str, cause: str, now: float) -> list[Command]:
        """A CRM or supervisor ends a call: hang up the caller's (or callback customer's) leg.

        Routing's state follows from the switch's hangup events, as for any hangup, so an
        answered call ends (by the agent, with ``cause``) and frees its agent into wrap-up;
        a waiting one leaves the queue (by the system).
        A booked callback not being dialled has no line to hang up (RoutingError).
        """
        call = self._calls.get(call_id)
        if call is None or call.status is CallStatus.DONE:
            raise RoutingError(f"routing holds no call {call_id!r}")
        if call.placed and call.status is CallStatus.RINGING:
            return self._cancel_placed(call, cause, now)
        if call.is_callback and call.status in (CallStatus.WAITING, CallStatus.RINGING):
            raise RoutingError(f"call {call_id!r} is a booked callback with no line to hang up")
        out = self._begin(now)
        if self._calls.get(call_id) is call:
            call.ended_by_request = cause
            out.append(HangupCall(call_id, cause))
        return out

    def transfer_to_number(self, call_id: str, number: str, now: float) -> list[Command]:
        """Blind-transfer an answered call to ``number`` (an E.164 number the caller checked).

        For routing the call ends here (``transferred_out``, by the agent) and the agent goes
        into wrap-up; the dialplan reaches the number. Only a conversation can be transferred.
        """
        call = self._answered(call_id)
        out = self._begin(now)
        if self._calls.get(call_id) is not call or call.status is not CallStatus.CONNECTED:
            return out  # it ended while the timers caught up
        agent_id = call.agent.agent_id if call.agent is not None else None
        self._emit(
            out,
            CallTransferred(kind="blind", target_kind="number", target=number, queue=call.queue),
            call_id,
            agent_id,
        )
        out.append(TransferOut(call_id, number))
        self._agent_leg_follows(call)
        self._finish(call, out, "agent", "BLIND_TRANSFER", outcome=CallOutcome.TRANSFERRED_OUT)
        return out

    def transfer_to_queue(self, call_id: str, queue_name: str, now: float) -> list[Command]:
        """Blind-transfer an answered call to a queue: the caller waits there as a new arrival.

        The caller is parked out of the bridge (its park is ignored: routing holds the call),
        the agent's leg ends with it (``hangup_after_bridge``) and the agent goes into wrap-up;
        the caller enters ``queue_name`` through the usual door (offered, music, or blocked or
        overflowed by that queue's rules), keeping its call id, so its one call.ended still
        comes at the very end.
        """
        call = self._answered(call_id)
        self._refuse_placed(call, "a queue")
        queue = self._queues.get(queue_name)
        if queue is None:
            raise RoutingError(f"no queue named {queue_name!r}")
        out = self._begin(now)
        if self._calls.get(call_id) is not call or call.status is not CallStatus.CONNECTED:
            return out
        agent = self._out_of_the_bridge(call, "queue", queue_name, out)
        old = self._queues.get(call.queue)
        if old is not None:
            old.remove(call)
        call.hops += 1
        call.direct_to = None
        if agent is not None:
            self._leave_conversation(agent, call, self._now - call.answered_at, out)
        self._enter(call, queue, out)
        return out

    def transfer_to_agent(self, call_id: str, agent_id: str, now: float) -> list[Command]:
        """Blind-transfer an answered call to one agent, who must be available.

        The caller is parked out of the bridge with music (the first agent's leg ends with it,
        that agent goes into wrap-up) while the new agent is rung; nobody else is offered the
        call. If that agent does not take it, the caller goes back to the queue it was answered
        in as a new arrival (as a transfer to that queue would have put it). The new answer is
        the agent's, not a second answer of the queue (``queue_answer`` false).
        """
        call = self._answered(call_id)
        self._refuse_placed(call, "an agent")
        target = self._agent(agent_id)
        if call.agent is target:
            raise RoutingError(f"call {call_id!r} is already with agent {agent_id!r}")
        self._check_free(target, now)
        out = self._begin(now)
        if self._calls.get(call_id) is not call or call.status is not CallStatus.CONNECTED:
            return out
        queue = self._queues.get(call.queue)
        if queue is None or not target.offerable(self._now):
            out.append(ReportProblem("transfer_refused", f"agent {agent_id!r} was taken first"))
            return out
        agent = self._out_of_the_bridge(call, "agent", agent_id, out)
        if agent is not None:
            self._leave_conversation(agent, call, self._now - call.answered_at, out)
        call.direct_to = agent_id
        call.enqueued_at = self._now
        out.append(PlayMusicOnHold(call_id, queue.name, queue.config.music_on_hold))
        self._offer(call, target, queue, out)
        return out

    def _out_of_the_bridge(
        self, call: Call, target_kind: Literal["queue", "agent"], target: str, out: list[Command]
    ) -> Agent | None:
        """A blind transfer begins: publish it, park the caller out of the bridge (the agent's
        leg ends with it, and their phone is busy until it has); return that agent."""
        agent, offer = call.agent, call.offer
        transferred = CallTransferred(
            kind="blind", target_kind=target_kind, target=target, queue=call.queue
        )
        self._emit(out, transferred, call.call_id, agent.agent_id if agent is not None else None)
        if offer is not None:
            self._offers.pop(offer.offer_id, None)
            if agent is not None:
                self._expect_leg_end(offer.offer_id, call.call_id, agent)
        out.append(ParkCaller(call.call_id, "transferred"))
        call.offer = None
        call.agent = None
        call.offers = {}
        return agent

    def _transfer_abandoned(self, call: Call, out: list[Command], cause: str) -> None:
        """The caller hung up while being transferred to an agent: the call (answered by the
        first agent) ends; the agent being rung is freed."""
        freed = self._cancel_offers(call, out, "caller_abandoned")
        self._end(call, out, CallOutcome.ANSWERED, cause, "caller")
        for agent in freed:
            self._serve(agent, out)

    # --- click-to-call ---------------------------------------------------------------------------

    def new_call_id(self) -> str:
        """Return a fresh call id, made as agent legs' ids are (a uuid4 in a deployment): a
        click-to-call's customer leg gets it, and the API names the call before placing it."""
        return self._new_id()

    def place_call(
        self,
        call_id: str,
        agent_id: str,
        number: str,
        queue: str,
        now: float,
        *,
        customer_id: str | None = None,
    ) -> list[Command]:
        """Click-to-call: ring the agent; once they answer, dial ``number`` and bridge.

        ``number`` is E.164, checked by the caller. The agent, who must be available, is
        reserved, then on the call, so no queue offers them a call meanwhile. ``queue`` is
        where the call is reported and wrapped up (its ring and dial timeouts, wrap-up and
        disposition codes apply); the call never waits in its line. If the agent does not
        answer, or the number is not reached, the call ends ``failed`` and the agent is free;
        a conversation ends in wrap-up like any other.
        """
        agent = self._agent(agent_id)
        runtime = self._queues.get(queue)
        if runtime is None:
            raise RoutingError(f"no queue named {queue!r}")
        if call_id in self._calls:
            raise RoutingError(f"call {call_id!r} exists already")
        self._check_free(agent, now)
        out = self._begin(now)
        if not agent.offerable(self._now):
            out.append(ReportProblem("agent_taken", f"agent {agent_id!r} was offered a call first"))
            return out
        parked = ParkedCall(call_id, queue, dialed_number=number, customer_id=customer_id)
        call = Call(parked, None, self._now)
        call.callback_number = number
        call.placed = True
        call.direct_to = agent_id
        self._calls[call_id] = call
        self._emit(
            out,
            CallPlaced(queue=queue, dialed_number=number, customer_id=customer_id),
            call_id,
            agent_id,
        )
        self._offer(call, agent, runtime, out)
        return out

    def _cancel_placed(self, call: Call, cause: str, now: float) -> list[Command]:
        """A click-to-call hung up while the agent still rings: stop the ring, end it there."""
        out = self._begin(now)
        if self._calls.get(call.call_id) is not call or call.status is not CallStatus.RINGING:
            return out
        freed = self._cancel_offers(call, out, "hung_up")
        self._end(call, out, CallOutcome.FAILED, cause, "system")
        for agent in freed:
            self._serve(agent, out)
        return out

    def _check_free(self, agent: Agent, now: float) -> None:
        """Refuse (RoutingError, with why) an agent who could not be offered a call now."""
        if self._holding:
            raise RoutingError("routing is handing over to another instance: try again")
        if agent.state is not AgentState.AVAILABLE:
            raise RoutingError(f"agent {agent.agent_id!r} is not available ({agent.state.value})")
        if agent.ready_at > max(now, self._now):
            raise RoutingError(f"agent {agent.agent_id!r} is resting after a missed call")
        if agent.hanging_up is not None:
            raise RoutingError(f"agent {agent.agent_id!r} still has their last call on the phone")

    @staticmethod
    def _refuse_placed(call: Call, where: str) -> None:
        if call.placed:
            raise RoutingError(
                f"call {call.call_id!r} is a click-to-call: it can be transferred to a number, "
                f"not to {where}"
            )

    def hold_call(self, call_id: str, now: float) -> list[Command]:
        """The agent puts the caller on hold (music on hold); 409-worthy unless talking."""
        call = self._answered(call_id, "held")
        if call.held_since is not None:
            raise RoutingError(f"call {call_id!r} is already on hold")
        out = self._begin(now)
        if self._calls.get(call_id) is not call or call.offer is None:
            return out
        call.held_since = self._now
        self._emit(out, CallHeld(queue=call.queue), call_id, call.offer.agent.agent_id)
        out.append(HoldCall(call_id, call.offer.offer_id, on=True))
        return out

    def resume_call(self, call_id: str, now: float) -> list[Command]:
        """The caller comes off hold; the hold's length is published and kept for call.ended."""
        call = self._answered(call_id, "resumed")
        if call.held_since is None:
            raise RoutingError(f"call {call_id!r} is not on hold")
        out = self._begin(now)
        if self._calls.get(call_id) is not call or call.offer is None or call.held_since is None:
            return out
        held = max(self._now - call.held_since, 0.0)
        call.hold_seconds += held
        call.held_since = None
        self._emit(
            out,
            CallResumed(queue=call.queue, hold_seconds=held),
            call_id,
            call.offer.agent.agent_id,
        )
        out.append(HoldCall(call_id, call.offer.offer_id, on=False))
        return out

    def _answered(self, call_id: str, what: str = "transferred") -> Call:
        """The call, if it is a conversation with an agent (RoutingError otherwise)."""
        call = self._calls.get(call_id)
        if call is None:
            raise RoutingError(f"routing holds no call {call_id!r}")
        if call.status is not CallStatus.CONNECTED or call.agent is None:
            raise RoutingError(
                f"call {call_id!r} is {call.status.value}: only an answered call can be {what}"
            )
        return call

    def _callback_entry(self, call: Call, number: str) -> Call:
        """Build the callback that takes over the caller's exact place in the queue."""
        callback = Call(
            ParkedCall(self._new_id(), call.queue, call.priority, None, None, number),
            call.own_requirement,
            self._now,
        )
        callback.arrived_at = self._now
        callback.enqueued_at = call.enqueued_at
        callback.seq = call.seq
        callback.sort_key = call.sort_key
        callback.step = call.step
        callback.requirement = call.requirement
        callback.visit = 1
        callback.callback_number = number
        callback.origin_call_id = call.call_id
        return callback

    def restore_callback(
        self,
        callback_id: str,
        *,
        queue: str,
        number: str,
        enqueued_at: float,
        now: float,
        priority: int = 0,
        skills: str | None = None,
        origin_call_id: str | None = None,
        attempts: int = 0,
    ) -> list[Command]:
        """Put back a booked callback after a restart (it has no channel to rebuild from)."""
        out = self._begin(now)
        runtime = self._queues.get(queue)
        if runtime is None:
            raise RoutingError(f"cannot restore callback {callback_id}: unknown queue {queue!r}")
        own = parse_requirement(skills, known_skills=self._known_skills) if skills else None
        call = Call(ParkedCall(callback_id, queue, priority, enqueued_at, skills), own, self._now)
        call.enqueued_at = enqueued_at
        call.callback_number = number
        call.origin_call_id = origin_call_id
        call.callback_attempts = attempts
        self._place(call, runtime)
        if origin_call_id is not None:
            self._callback_of[origin_call_id] = callback_id
        return out

    def _abandon(
        self, call: Call, out: list[Command], cause: str, *, at: float | None = None
    ) -> None:
        """The caller hung up (at ``at``, default now) while waiting or while an agent rang."""
        queue = self._queues[call.queue]
        wait = (self._now if at is None else at) - call.enqueued_at
        position = queue.position(call)
        ringing = call.status in (CallStatus.RINGING, CallStatus.CONNECTING)
        freed = self._cancel_offers(call, out, "caller_abandoned")
        queue.remove(call)
        queue.service_level.record(self._now, wait, answered=False, abandoned=True)
        self._emit(
            out,
            CallAbandoned(
                queue=queue.name,
                wait_seconds=max(wait, 0.0),
                position=position,
                while_ringing=ringing,
            ),
            call.call_id,
        )
        self._end(call, out, CallOutcome.ABANDONED, cause, "caller")
        for agent in freed:
            self._serve(agent, out)

    def _agent_leg_follows(self, call: Call) -> None:
        """The caller left the bridge: FreeSWITCH hangs up the agent's leg after it
        (``hangup_after_bridge``), and the agent is offered nothing until that is heard."""
        offer, agent = call.offer, call.agent
        if offer is not None and agent is not None:
            self._expect_leg_end(offer.offer_id, call.call_id, agent)

    def _finish(
        self,
        call: Call,
        out: list[Command],
        hangup_by: str,
        cause: str,
        *,
        at: float | None = None,
        outcome: CallOutcome = CallOutcome.ANSWERED,
    ) -> None:
        """The conversation ended (at ``at``, default now): publish the end, then wrap-up."""
        agent = call.agent
        talk = (self._now if at is None else at) - call.answered_at
        self._end(call, out, outcome, cause, hangup_by, talk)
        if call.origin_call_id is not None:
            self._callback_of.pop(call.origin_call_id, None)
        if agent is not None:
            self._leave_conversation(agent, call, talk, out)

    def _leave_conversation(
        self, agent: Agent, call: Call, talk: float, out: list[Command]
    ) -> None:
        """The agent is done talking on ``call``: count the talk, then wrap-up (or what is next)."""
        agent.talk_seconds += max(talk, 0.0)
        agent.call = None
        agent.last_call = call
        queue = self._queues.get(call.queue)
        wrap = agent.config.wrap_up_seconds
        if queue is not None and queue.config.wrap_up_seconds is not None:
            wrap = queue.config.wrap_up_seconds
        if queue is not None:
            queue.record_handle_time(max(talk, 0.0) + wrap)
        self._wrap_up_or_next(agent, wrap, out, call.call_id)

    def _wrap_up_or_next(
        self, agent: Agent, wrap: float, out: list[Command], call_id: str | None
    ) -> None:
        """After a conversation: a pending logout at once, else ``wrap`` seconds of wrap-up (its
        timer then does what is next), else what is next now."""
        if agent.pending is not None and agent.pending[0] is AgentState.LOGGED_OUT:
            self._apply_pending(agent, out, call_id)
        elif wrap > 0:
            agent.wrap_until = self._now + wrap
            agent.token += 1
            self._set_state(agent, AgentState.WRAP_UP, out, call_id=call_id)
            self._timers.set(agent.wrap_until, self._on_wrap_up_end, agent, agent.token)
        else:
            self._after_work(agent, out)

    def advance(self, now: float) -> list[Command]:
        """Act on every deadline due by ``now`` (call when :meth:`next_deadline` comes)."""
        return self._begin(now)

    def next_deadline(self) -> float | None:
        """Return when the core next needs :meth:`advance` (None: only on new input)."""
        self._timers.drop_stale(self._stale)
        return self._timers.next_due()

    def _stale(self, timer: Timer) -> bool:
        """The common stale timers, dropped early: a ring timeout whose offer already ended
        (offers are the subject of ring timeouts only), a leg check whose leg was heard gone."""
        subject = timer.subject
        if isinstance(subject, Offer):
            return not subject.active
        if isinstance(subject, ClosingLeg):
            return self._closing.get(subject.leg) is not subject
        return False

    # --- restart -------------------------------------------------------------------------------

    def hang_up_left_over(self, leg: str, call_id: str, agent_id: str, now: float) -> list[Command]:
        """A ring from an instance that is gone is still on the agent's phone: hang it up, and
        offer the agent nothing until FreeSWITCH confirms it gone."""
        out = self._begin(now)
        agent = self._agents.get(agent_id)
        if agent is None:
            return [*out, CancelOffer(leg, call_id, agent_id, "left_over")]
        self._hang_up_leg(leg, call_id, agent, "left_over", out)
        return out

    def restore_agent(
        self,
        config: AgentConfig,
        *,
        state: AgentState,
        since: float,
        now: float,
        reason: str | None = None,
        wrap_until: float | None = None,
        calls_answered: int = 0,
        talk_seconds: float = 0.0,
        idle_since: float | None = None,
    ) -> list[Command]:
        """Rebuild an agent from their database row, publishing nothing.

        Reserved and on-call agents are restored through their call (:meth:`restore_call`
        with ``answered_by``); an agent whose ringing was lost in the restart comes back available.
        """
        if state is AgentState.ON_CALL:
            raise RoutingError("restore an on-call agent through restore_call(answered_by=...)")
        out = self.upsert_agent(config, now)
        agent = self._agents[config.agent_id]
        if state is AgentState.RESERVED:
            state = AgentState.AVAILABLE
        self._quiet_state(agent, state, since, reason)
        agent.calls_answered = calls_answered
        agent.talk_seconds = talk_seconds
        agent.idle_since = since if idle_since is None else idle_since
        if state is AgentState.WRAP_UP:
            agent.wrap_until = wrap_until if wrap_until is not None else self._now
            agent.token += 1
            self._timers.set(agent.wrap_until, self._on_wrap_up_end, agent, agent.token)
        self._reindex(agent)
        return out

    def _quiet_state(
        self, agent: Agent, state: AgentState, since: float, reason: str | None
    ) -> None:
        """Set a state without publishing (restoring what was already published)."""
        was = agent.state in (AgentState.AVAILABLE, *_BUSY)
        is_ = state in (AgentState.AVAILABLE, *_BUSY)
        agent.state = state
        agent.since = since
        agent.reason = reason
        if was != is_:
            self._staffing_changed(agent, 1 if is_ else -1)

    def restore_call(
        self,
        parked: ParkedCall,
        now: float,
        *,
        answered_by: str | None = None,
        agent_leg: str | None = None,
        answered_at: float | None = None,
        bridging_to: str | None = None,
    ) -> list[Command]:
        """Rebuild a call from its channel variables after a restart, publishing nothing.

        A waiting call keeps its place (ordered by ``cc_enqueued_at``); a bridged call puts its
        agent back on the call; a call whose bridge to ``bridging_to`` (agent id, leg
        ``agent_leg`` picked up at ``answered_at``) was asked for but not yet confirmed waits
        for that confirmation (:meth:`call_bridged`) with its agent reserved. Call
        :meth:`resume` once everything is restored.
        """
        out = self._begin(now)
        if parked.call_id in self._calls:
            return out
        queue = self._queues.get(parked.queue)
        own = self._call_requirement(parked, out)
        call = Call(parked, own, self._now)
        call.priority = self._priority(parked, out)
        call.enqueued_at = parked.enqueued_at if parked.enqueued_at is not None else self._now
        call.arrived_at = call.enqueued_at
        if answered_by is not None:
            self._restore_connected(call, answered_by, agent_leg, answered_at)
            return out
        if bridging_to is not None and agent_leg is not None and queue is not None:
            self._restore_connecting(call, queue, bridging_to, agent_leg, answered_at)
            return out
        if queue is None:
            self._unknown_queue(call, out)
            return out
        self._place(call, queue)
        return out

    def _restore_connected(
        self, call: Call, agent_id: str, agent_leg: str | None, answered_at: float | None
    ) -> None:
        agent = self._agent(agent_id)
        offer = Offer(agent_leg or self._new_id(), call, agent, call.queue, self._now)
        offer.active = False
        call.status = CallStatus.CONNECTED
        call.agent = agent
        call.offer = offer
        call.answered_at = answered_at if answered_at is not None else self._now
        self._calls[call.call_id] = call
        self._offers[offer.offer_id] = offer
        self._quiet_state(agent, AgentState.ON_CALL, call.answered_at, None)
        agent.call = call
        self._reindex(agent)

    def _restore_connecting(
        self,
        call: Call,
        queue: QueueRuntime,
        agent_id: str,
        agent_leg: str,
        answered_at: float | None,
    ) -> None:
        """Put back a call whose agent picked up and whose bridge is not yet confirmed."""
        agent = self._agent(agent_id)
        self._place(call, queue)
        offer = Offer(agent_leg, call, agent, call.queue, answered_at or self._now)
        offer.active = False
        offer.answered_at = answered_at
        call.offers[agent_leg] = offer
        call.offer = offer
        call.status = CallStatus.CONNECTING
        call.attempts += 1
        self._offers[agent_leg] = offer
        agent.offer = offer
        self._quiet_state(agent, AgentState.RESERVED, answered_at or self._now, None)
        self._reindex(agent)

    def hold_offers(self) -> None:
        """Offer nothing more (an instance stopping): agents stay as they are, unpublished.

        Rings and bridges already under way go on, so they can settle instead of being
        replaced by new ones while the instance waits for them.
        """
        self._holding = True

    def stop_ringing(self, now: float) -> list[Command]:
        """Cancel every agent still ringing (an instance stopping, after :meth:`hold_offers`):
        each call keeps its place.

        A ring left behind would be answered with nobody listening; the next instance offers
        the calls again. Costs the agents nothing.
        """
        out = self._begin(now)
        for call in list(self._calls.values()):
            if call.status is not CallStatus.RINGING:
                continue
            self._cancel_offers(call, out, "routing_stopped")
            if call.direct_to is not None:
                self._direct_missed(call, "routing_stopped", out)
            else:
                call.status = CallStatus.WAITING
        return out

    def legs_hanging_up(self) -> list[tuple[str, float]]:
        """Return (leg, hung up at) for each agent leg routing hung up, not yet confirmed gone."""
        return [(leg, closing.since) for leg, closing in self._closing.items()]

    def has_offer(self, offer_id: str) -> bool:
        """Whether ``offer_id`` is an agent leg this core rang (ringing, or connecting/talking)."""
        return offer_id in self._offers

    def offer_answered_at(self, offer_id: str) -> float | None:
        """Return when an agent leg picked up (None: unknown, or not picked up)."""
        offer = self._offers.get(offer_id)
        return offer.answered_at if offer is not None else None

    def ringing_offers(self) -> list[str]:
        """Return the agent legs ringing now (offered, not yet answered or missed)."""
        return sorted(o.offer_id for o in self._offers.values() if o.active)

    def resume(self, now: float) -> list[Command]:
        """After a restore, offer every waiting call that an available agent fits."""
        out = self._begin(now)
        for queue in self._queues.values():
            self._rebalance(queue, out)
        for agent in self._agents.values():
            self._serve(agent, out)
        return out

    # --- queries -------------------------------------------------------------------------------

    def call_view(self, call_id: str, now: float | None = None) -> CallView | None:
        """Return where a call stands (position and estimated wait kept current), or None."""
        at = self._now if now is None else max(now, self._now)
        call = self._calls.get(call_id)
        if call is None:
            forwarded = self._callback_of.get(call_id)
            call = self._calls.get(forwarded) if forwarded is not None else None
        if call is None:
            return None
        queue = self._queues.get(call.queue)
        in_queue = queue is not None and call.status in (
            CallStatus.WAITING,
            CallStatus.RINGING,
            CallStatus.DIALING,
        )
        in_queue = in_queue and call.direct_to is None
        position = queue.position(call) if in_queue and queue is not None else None
        estimate = (
            queue.estimated_wait(position) if queue is not None and position is not None else None
        )
        return CallView(
            call_id=call.call_id,
            queue=call.queue,
            status=call.status.value,
            priority=call.priority,
            enqueued_at=call.enqueued_at,
            wait_seconds=max(at - call.enqueued_at, 0.0),
            position=position,
            estimated_wait_seconds=estimate,
            agent_id=call.agent.agent_id if call.agent is not None else None,
            callback_number=call.callback_number,
            skills=call.own_requirement.text if call.own_requirement is not None else None,
            direction="outbound" if call.placed else "inbound",
            dialed_number=call.dialed_number,
            customer_id=call.customer_id,
        )

    def queue_status(self, name: str, now: float | None = None) -> QueueStatus:
        """Return a queue's live figures."""
        queue = self._queues.get(name)
        if queue is None:
            raise RoutingError(f"unknown queue {name!r}")
        at = self._now if now is None else max(now, self._now)
        counts = {"waiting": 0, "ringing": 0, "callbacks": 0}
        for call in queue.calls():
            if call.is_callback:
                counts["callbacks"] += 1
            elif call.status is CallStatus.WAITING:
                counts["waiting"] += 1
            else:
                counts["ringing"] += 1
        by_state: dict[str, int] = {state.value: 0 for state in AgentState}
        for agent in queue.members.values():
            by_state[agent.state.value] += 1
        oldest = queue.oldest_enqueued_at()
        return QueueStatus(
            queue=name,
            calls=len(queue),
            waiting=counts["waiting"],
            ringing=counts["ringing"],
            callbacks=counts["callbacks"],
            oldest_wait_seconds=max(at - oldest, 0.0) if oldest is not None else None,
            staffed=queue.staffed,
            offerable=len(queue.index),
            agents_by_state=by_state,
            estimated_wait_seconds=queue.estimated_wait(len(queue) + 1),
            service_level=queue.service_level_now(at),
            service_level_target=queue.config.service_level_target,
        )

    def agent_view(self, agent_id: str) -> AgentView:
        """Return an agent's live state."""
        agent = self._agent(agent_id)
        call = agent.call or (agent.offer.call if agent.offer is not None else None)
        return AgentView(
            agent_id=agent_id,
            state=agent.state.value,
            since=agent.since,
            reason=agent.reason,
            offerable=agent.offerable(self._now),
            call_id=call.call_id if call is not None else None,
            pending=agent.pending[0].value if agent.pending is not None else None,
            calls_answered=agent.calls_answered,
            talk_seconds=agent.talk_seconds,
            no_answer_count=agent.no_answer_count,
            wrap_until=agent.wrap_until if agent.state is AgentState.WRAP_UP else None,
        )

    def explain(self, call_id: str) -> tuple[Decision, ...]:
        """Return the routing decisions kept for a call (recent calls only), oldest first."""
        return self._log.for_call(call_id)

    def queue_names(self) -> list[str]:
        """Return the configured queues' names."""
        return sorted(self._queues)

    def agent_ids(self) -> list[str]:
        """Return every known agent's id."""
        return sorted(self._agents)

    def connecting_calls(self) -> list[str]:
        """Return the calls whose bridge to an answering agent is not yet confirmed."""
        return sorted(c.call_id for c in self._calls.values() if c.status is CallStatus.CONNECTING)

    def holds_call(self, call_id: str) -> bool:
        """Whether routing holds the call (queued, ringing, talking, a callback)."""
        return call_id in self._calls

    def active_calls(self) -> list[str]:
        """Return the ids of calls routing currently holds (queued, ringing, talking, callbacks)."""
        return sorted(self._calls)

    def agent_legs(self) -> list[AgentLegView]:
        """Return every agent leg routing believes exists, to check against the live channels."""
        return [
            AgentLegView(
                offer_id=offer.offer_id,
                call_id=offer.call.call_id,
                agent_id=offer.agent.agent_id,
                ringing=offer.active,
                call_status=offer.call.status.value,
                started_at=offer.started_at,
            )
            for offer in self._offers.values()
        ]
