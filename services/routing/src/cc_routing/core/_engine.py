"""The routing machinery behind :class:`cc_routing.core.acd.Acd`: offers, states, timers, moves.

Everything here runs at ``self._now`` (set by the public method or by the timer being fired) and
appends the resulting commands to ``out``. Invariant kept after every public call: no waiting call
has an offerable agent that meets its requirement (except while ring-progressively is adding
agents on its timer).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from cc_proto.envelope import EventData
from cc_proto.events import (
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    CallAgentMissed,
    CallAgentOffered,
    CallAnswered,
    CallBlocked,
    CallEnded,
    CallOffered,
    CallOutcome,
    CallOverflowed,
    CallQueued,
)
from cc_routing.core.agents import NO_FAULT_CAUSES, STAFFED, Agent, ClosingLeg
from cc_routing.core.calls import (
    VAR_AGENT,
    VAR_AGENT_LEG,
    VAR_ANSWERED_AT,
    VAR_ENQUEUED_AT,
    VAR_PRIORITY,
    VAR_QUEUE,
    Call,
    CallStatus,
    Offer,
)
from cc_routing.core.commands import (
    BridgeCall,
    CancelOffer,
    Command,
    DialCustomer,
    OfferCall,
    PlayAnnouncement,
    PlayMusicOnHold,
    PublishEvent,
    ReportProblem,
    SetCallVariables,
    TransferCall,
)
from cc_routing.core.config import Destination, Strategy
from cc_routing.core.explain import DecisionLog, DecisionRecord, QueueChoice
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.strategies import order_key, pick_agents, rotation_start
from cc_routing.core.timers import Timers

MAX_HOPS = 8
"""How many queue-to-queue moves a call may make before it goes to the fallback (loop guard)."""
DIAL_GRACE_SECONDS = 5.0
"""Slack after a callback dial timeout before the core gives up on hearing from the adapter."""
LEG_CONFIRM_SECONDS = 2.0
"""How long a hung-up agent leg may go unconfirmed before it is hung up again (a hangup sent
before FreeSWITCH created the leg finds no channel, and the leg then rings)."""
LEG_CONFIRM_TRIES = 3
"""Hangups sent for one leg before the agent is given up on it (and a problem reported)."""
_EXPLAIN_WHEN_NOBODY = frozenset({"arrival", "relaxed", "retry", "callback"})


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _seconds(value: float) -> str:
    return repr(value)


class Engine:
    """State and mechanism; the public, validated surface is :class:`Acd`."""

    def __init__(
        self,
        *,
        rng: random.Random,
        new_id: Callable[[], str] | None,
        fallback: Destination,
        known_skills: Collection[str] | None,
        explain: bool,
        explain_capacity: int,
    ) -> None:
        self._rng = rng
        prefix = f"{rng.getrandbits(80):020x}"
        self._id_prefix = f"{prefix[:8]}-{prefix[8:12]}-4{prefix[13:16]}-a{prefix[17:20]}-"
        self._ids = 0
        self._new_id = new_id or self._random_id
        self._fallback = fallback
        self._known_skills = frozenset(known_skills) if known_skills is not None else None
        self._explain = explain
        self._log = DecisionLog(explain_capacity)
        self._now = -math.inf
        self._queues: dict[str, QueueRuntime] = {}
        self._broken: dict[str, tuple[Destination | None, str]] = {}
        self._agents: dict[str, Agent] = {}
        self._calls: dict[str, Call] = {}
        self._offers: dict[str, Offer] = {}
        self._callback_of: dict[str, str] = {}
        self._closing: dict[str, ClosingLeg] = {}
        self._timers = Timers()
        self._seq = 0
        self._holding = False  # an instance stopping: no new offers

    def _random_id(self) -> str:
        """Return a uuid4-shaped id: a random prefix drawn once from the injected RNG, then a
        counter (unique within this process, reproducible in simulations, cheap to make)."""
        self._ids += 1
        return f"{self._id_prefix}{self._ids:012x}"

    # --- clock ---------------------------------------------------------------------------------

    def _begin(self, now: float) -> list[Command]:
        """Fire every timer due by ``now`` (each at its own due time), then move the clock."""
        if not math.isfinite(now):
            raise ValueError(f"now must be finite epoch seconds, not {now!r}")
        out: list[Command] = []
        timers = self._timers
        while True:
            timer = timers.pop_due(now)
            if timer is None:
                break
            if timer.due > self._now:
                self._now = timer.due
            timer.fire(out)
        if now > self._now:
            self._now = now
        return out

    def _emit(
        self,
        out: list[Command],
        data: EventData,
        call_id: str | None = None,
        agent_id: str | None = None,
    ) -> None:
        out.append(PublishEvent(data, self._now, call_id, agent_id))

    # --- agent states --------------------------------------------------------------------------

    def _set_state(
        self,
        agent: Agent,
        state: AgentState,
        out: list[Command],
        *,
        call_id: str | None = None,
        reason: str | None = None,
        idle_since: float | None = None,
    ) -> None:
        """Move an agent to ``state``, publish it, and keep queue indexes and staffing in step."""
        now = self._now
        old = agent.state
        self._emit(
            out,
            AgentStateChanged(
                from_state=old,
                to_state=state,
                from_state_since=_utc(agent.since),
                reason=reason,
                team=agent.config.team,
            ),
            call_id,
            agent.agent_id,
        )
        agent.state = state
        agent.since = now
        agent.reason = reason
        if state is AgentState.AVAILABLE:
            agent.idle_since = now if idle_since is None else idle_since
        was, is_ = old in STAFFED, state in STAFFED
        if was != is_:
            self._staffing_changed(agent, 1 if is_ else -1)
        self._reindex(agent)

    def _reindex(self, agent: Agent) -> None:
        """Put the agent in (or take them out of) the offerable index of each of their queues."""
        queues = self._queues
        if agent.offerable(self._now):
            for name, tier in agent.config.tiers.items():
                queue = queues.get(name)
                if queue is not None:
                    queue.index.add(agent, order_key(queue.config.strategy, tier, agent))
            agent.indexed = True
        elif agent.indexed:
            for name in agent.config.tiers:
                queue = queues.get(name)
                if queue is not None:
                    queue.index.remove(agent.agent_id)
            agent.indexed = False

    def _staffing_changed(self, agent: Agent, delta: int) -> None:
        """Count working agents per queue; arm the no-agent rule when a queue empties."""
        for name in agent.config.tiers:
            queue = self._queues.get(name)
            if queue is None:
                continue
            queue.staffed += delta
            if queue.staffed == 0:
                queue.unstaffed_since = self._now
                self._arm_no_agents(queue)
            elif delta > 0 and queue.staffed == 1:
                queue.unstaffed_since = None

    def _arm_no_agents(self, queue: QueueRuntime) -> None:
        limit = queue.config.max_wait_no_agents_seconds
        if limit is None or queue.unstaffed_since is None:
            return
        for call in queue.calls():
            if not call.is_callback:
                due = max(call.enqueued_at, queue.unstaffed_since) + limit
                self._timers.set(due, self._on_wait_deadline, call, call.visit)

    def _release(
        self,
        agent: Agent,
        out: list[Command],
        call_id: str | None,
        *,
        no_fault: bool,
        delay: float = 0.0,
        not_ready: bool = False,
    ) -> None:
        """Return an agent whose offer ended without a conversation to where they belong."""
        agent.offer = None
        if agent.pending is not None:
            self._apply_pending(agent, out, call_id)
            return
        if not_ready:
            self._set_state(
                agent, AgentState.NOT_READY, out, call_id=call_id, reason="max_no_answer"
            )
            return
        agent.ready_at = self._now + delay
        previous = agent.previous_idle_since if no_fault else None
        self._set_state(agent, AgentState.AVAILABLE, out, call_id=call_id, idle_since=previous)
        if delay > 0:
            agent.token += 1
            self._timers.set(agent.ready_at, self._on_agent_ready, agent, agent.token)

    def _apply_pending(self, agent: Agent, out: list[Command], call_id: str | None) -> None:
        """Carry out a break, not-ready or logout the agent asked for while busy."""
        pending = agent.pending
        agent.pending = None
        if pending is None:
            return
        state, reason = pending
        if state is AgentState.LOGGED_OUT:
            self._log_out(agent, out, reason, call_id)
        else:
            self._set_state(agent, state, out, call_id=call_id, reason=reason)

    def _log_out(
        self, agent: Agent, out: list[Command], reason: str | None, call_id: str | None = None
    ) -> None:
        self._set_state(agent, AgentState.LOGGED_OUT, out, call_id=call_id, reason=reason)
        self._emit(
            out, AgentLoggedOut(reason=reason, team=agent.config.team), agent_id=agent.agent_id
        )

    def _after_work(self, agent: Agent, out: list[Command]) -> None:
        """End of the conversation or its wrap-up: a pending request, or available again."""
        call_id = agent.last_call.call_id if agent.last_call is not None else None
        if agent.pending is not None:
            self._apply_pending(agent, out, call_id)
        else:
            self._set_state(agent, AgentState.AVAILABLE, out, call_id=call_id)
        self._serve(agent, out)

    # --- offering ------------------------------------------------------------------------------

    def _offer(self, call: Call, agent: Agent, queue: QueueRuntime, out: list[Command]) -> None:
        """Reserve ``agent`` and ring them for ``call``."""
        now = self._now
        config = queue.config
        offer_id = self._new_id()
        call.attempts += 1
        offer = Offer(offer_id, call, agent, queue.name, now)
        call.offers[offer_id] = offer
        self._offers[offer_id] = offer
        call.status = CallStatus.RINGING
        key = queue.index.key_of.get(agent.agent_id)
        if key is not None:
            seat = rotation_start(config.strategy, key)
            if config.strategy is Strategy.ROUND_ROBIN:
                queue.rr_last = seat
            call.last_tried = seat
        agent.previous_idle_since = agent.idle_since
        agent.offer = offer
        out.append(
            OfferCall(
                offer_id=offer_id,
                call_id=call.call_id,
                agent_id=agent.agent_id,
                contact=agent.config.contact,
                queue=queue.name,
                ring_timeout_seconds=config.ring_timeout_seconds,
                attempt=call.attempts,
                caller_number=call.callback_number or call.caller_number,
                callback_number=call.callback_number,
            )
        )
        self._emit(
            out,
            CallAgentOffered(
                queue=queue.name,
                agent_leg_uuid=offer_id,
                contact=agent.config.contact,
                ring_timeout_seconds=config.ring_timeout_seconds,
                attempt=call.attempts,
            ),
            call.call_id,
            agent.agent_id,
        )
        self._set_state(agent, AgentState.RESERVED, out, call_id=call.call_id)
        self._timers.set(now + config.ring_timeout_seconds, self._on_ring_timeout, offer, 0)

    def _route(
        self,
        call: Call,
        out: list[Command],
        trigger: str,
        queue_choice: tuple[QueueChoice, ...] = (),
    ) -> bool:
        """Offer a waiting call to the agent(s) its queue's strategy picks; False if nobody fits."""
        if call.status is not CallStatus.WAITING or call.not_before > self._now or self._holding:
            return False
        queue = self._queues[call.queue]
        strategy = queue.config.strategy
        start = None
        if strategy is Strategy.ROUND_ROBIN:
            start = queue.rr_last
        elif strategy is Strategy.TOP_DOWN:
            start = call.last_tried
        chosen = pick_agents(
            strategy, queue.index, call.requirement, start_after=start, rng=self._rng
        )
        if self._explain and (chosen or trigger in _EXPLAIN_WHEN_NOBODY):
            self._log.add(self._decision(queue, call, chosen, trigger, start, queue_choice))
        if not chosen:
            return False
        for agent in chosen:
            self._offer(call, agent, queue, out)
        if strategy is Strategy.RING_PROGRESSIVELY:
            call.ring_round += 1
            due = self._now + queue.config.ring_progressively_delay_seconds
            self._timers.set(due, self._on_ring_more, call, call.ring_round)
        return True

    def _serve(self, agent: Agent, out: list[Command]) -> None:
        """Give a freshly offerable agent the call it should take, across all its queues."""
        now = self._now
        while agent.offerable(now):
            choices: list[tuple[QueueRuntime, Call]] = []
            for name in agent.config.tiers:
                queue = self._queues.get(name)
                if queue is None or not len(queue):
                    continue
                call = queue.head_for(agent, now)
                if call is not None:
                    choices.append((queue, call))
            if not choices:
                self._join_ring_all(agent, out)
                return
            queue_choice: tuple[QueueChoice, ...] = ()
            if len(choices) == 1:
                call = choices[0][1]
            else:
                call, queue_choice = self._choose_queue(choices)
            if not self._route(call, out, "agent_ready", queue_choice):
                return

    def _choose_queue(
        self, choices: list[tuple[QueueRuntime, Call]]
    ) -> tuple[Call, tuple[QueueChoice, ...]]:
        """Pick the queue closest to missing its service-level target, then the oldest call."""
        now = self._now
        ranked = sorted(
            ((queue.margin(now), call.enqueued_at, queue.name), queue, call)
            for queue, call in choices
        )
        best = ranked[0][2]
        explained = tuple(
            QueueChoice(
                queue=queue.name,
                service_level=round(queue.service_level_now(now), 6),
                target=queue.config.service_level_target,
                margin=round(rank[0], 6),
                head_call_id=call.call_id,
                head_enqueued_at=call.enqueued_at,
                chosen=call is best,
            )
            for rank, queue, call in ranked
        )
        return best, explained

    def _join_ring_all(self, agent: Agent, out: list[Command]) -> None:
        """A freed agent joins the ringing of a ring-all call they fit, as mod_callcenter does."""
        if self._holding:
            return
        skills = agent.config.skills
        for name in agent.config.tiers:
            queue = self._queues.get(name)
            if queue is None or queue.config.strategy is not Strategy.RING_ALL:
                continue
            for call in queue.calls():
                if call.status is not CallStatus.RINGING:
                    continue
                if call.requirement is None or call.requirement.matches(skills):
                    self._offer(call, agent, queue, out)
                    return

    def _decision(
        self,
        queue: QueueRuntime,
        call: Call,
        chosen: list[Agent],
        trigger: str,
        start: tuple[int, float] | None,
        queue_choice: tuple[QueueChoice, ...],
    ) -> DecisionRecord:
        """Capture a decision cheaply: the order keys and each member's state, rendered later."""
        return DecisionRecord(
            at=self._now,
            call_id=call.call_id,
            queue=queue.name,
            trigger=trigger if start is None else f"{trigger}; rotation after seat {start}",
            strategy=queue.config.strategy,
            requirement=call.requirement,
            step=call.step,
            chosen=tuple(agent.agent_id for agent in chosen),
            keys=dict(queue.index.key_of),
            members=[
                (
                    a.agent_id,
                    a.state,
                    a.reason,
                    a.ready_at,
                    a.wrap_until,
                    a.offer,
                    a.call,
                    a.config.skills,
                )
                for a in queue.members.values()
            ],
            queue_choice=queue_choice,
        )

    # --- answering, missing, cancelling --------------------------------------------------------

    def _bridge(self, call: Call, offer: Offer, out: list[Command]) -> None:
        """The agent picked up: stop the other rings and bridge, keeping the agent reserved.

        The answer counts only once FreeSWITCH confirms the bridge (:meth:`_connect`): a caller
        who hangs up before that never reached the agent, so it is an abandon, not an answer.
        """
        offer.answered_at = self._now
        freed = self._hold_agent(call, offer, CallStatus.CONNECTING, out)
        out.append(BridgeCall(call.call_id, offer.offer_id, offer.agent.agent_id))
        for other in freed:
            self._serve(other, out)

    def _hold_agent(
        self, call: Call, offer: Offer, status: CallStatus, out: list[Command]
    ) -> list[Agent]:
        """Keep the agent who picked up reserved for the call, stop its other rings.

        Returns the agents those rings freed, to be served once the call is settled.
        """
        offer.active = False
        call.offers.pop(offer.offer_id, None)
        freed = self._cancel_offers(call, out, "answered_elsewhere")
        call.offers[offer.offer_id] = offer
        call.offer = offer
        call.status = status
        return freed

    def _bridge_failed(self, call: Call, offer: Offer, cause: str, out: list[Command]) -> None:
        """The agent leg went away before the bridge held: the call looks for someone else.

        It goes back to ringing that one leg so that :meth:`_miss` counts the agent's miss and
        returns the call to its place; its queue deadlines, dropped while it was connecting,
        are armed again.
        """
        queue = self._queues[call.queue]
        call.offer = None
        call.status = CallStatus.RINGING
        offer.active = True
        call.visit += 1
        self._arm(call, queue)
        self._miss(offer, cause, out)

    def _connect(
        self, call: Call, offer: Offer, out: list[Command], *, at: float | None = None
    ) -> None:
        """The caller and the agent are bridged: count the answer and put the agent on the call.

        For a callback the customer's answer is the moment; the bridge is sent from here.
        ``at`` is FreeSWITCH's time of the bridge when it is learnt late (a restore).
        """
        now = self._now if at is None else min(at, self._now)
        agent = offer.agent
        queue = self._queues.get(call.queue)
        bridged = call.status is CallStatus.CONNECTING
        offer.active = False
        call.offers.pop(offer.offer_id, None)
        freed = self._cancel_offers(call, out, "answered_elsewhere")
        if queue is not None:
            queue.remove(call)
        call.status = CallStatus.CONNECTED
        call.agent = agent
        call.offer = offer
        call.answered_at = now
        agent.offer = None
        agent.call = call
        agent.no_answer_count = 0
        agent.calls_answered += 1
        wait = now - call.enqueued_at
        if queue is not None and not call.is_callback and call.direct_to is None:
            queue.service_level.record(now, wait, answered=True)
        if not bridged:
            out.append(BridgeCall(call.call_id, offer.offer_id, agent.agent_id))
        out.append(
            SetCallVariables(
                call.call_id,
                (
                    (VAR_AGENT, agent.agent_id),
                    (VAR_AGENT_LEG, offer.offer_id),
                    (VAR_ANSWERED_AT, _seconds(now)),
                ),
            )
        )
        picked_up = offer.answered_at if offer.answered_at is not None else now
        self._emit(
            out,
            CallAnswered(
                queue=call.queue,
                agent_leg_uuid=offer.offer_id,
                wait_seconds=max(wait, 0.0),
                ring_seconds=max(picked_up - offer.started_at, 0.0),
                queue_answer=call.direct_to is None,
            ),
            call.call_id,
            agent.agent_id,
        )
        self._set_state(agent, AgentState.ON_CALL, out, call_id=call.call_id)
        for other in freed:
            self._serve(other, out)

    def _cancel_offers(self, call: Call, out: list[Command], reason: str) -> list[Agent]:
        """Stop ringing every agent still rung for ``call``; return them (serve them afterwards)."""
        freed: list[Agent] = []
        for offer in list(call.offers.values()):
            offer.active = False
            self._offers.pop(offer.offer_id, None)
            agent = offer.agent
            self._hang_up_leg(offer.offer_id, call.call_id, agent, reason, out)
            self._release(agent, out, call.call_id, no_fault=True)
            freed.append(agent)
        call.offers.clear()
        return freed

    def _hang_up_leg(
        self, leg: str, call_id: str, agent: Agent, reason: str, out: list[Command]
    ) -> None:
        """Hang up an agent leg; the agent takes no other call until FreeSWITCH confirms it
        gone, so their phone never rings for two callers at once."""
        out.append(CancelOffer(leg, call_id, agent.agent_id, reason))
        self._expect_leg_end(leg, call_id, agent)

    def _expect_leg_end(self, leg: str, call_id: str, agent: Agent) -> None:
        """The agent's leg is ending (hung up by us, or following its caller out of a bridge):
        the agent's phone is busy until its end is heard (hung up again if it is not)."""
        closing = ClosingLeg(leg, call_id, agent, self._now)
        self._closing[leg] = closing
        agent.hanging_up = leg
        self._reindex(agent)
        self._timers.set(self._now + LEG_CONFIRM_SECONDS, self._on_leg_unconfirmed, closing, 1)

    def _leg_gone(self, leg: str, out: list[Command]) -> None:
        """FreeSWITCH confirmed a hung-up agent leg ended: the agent's phone is free again."""
        closing = self._closing.pop(leg, None)
        if closing is None:
            return
        agent = closing.agent
        if agent.hanging_up == leg:
            agent.hanging_up = None
            self._reindex(agent)
            self._serve(agent, out)

    def _on_leg_unconfirmed(self, closing: ClosingLeg, tries: int, out: list[Command]) -> None:
        """No end heard for a hung-up leg: hang it up again, and in the end give up on it."""
        if self._closing.get(closing.leg) is not closing:
            return
        agent = closing.agent
        if tries < LEG_CONFIRM_TRIES:
            out.append(CancelOffer(closing.leg, closing.call_id, agent.agent_id, "unconfirmed"))
            due = self._now + LEG_CONFIRM_SECONDS
            self._timers.set(due, self._on_leg_unconfirmed, closing, tries + 1)
            return
        message = f"agent leg {closing.leg} of {agent.agent_id} was never confirmed gone"
        problem = ReportProblem(
            "agent_leg_unconfirmed", message, call_id=closing.call_id, agent_id=agent.agent_id
        )
        out.append(problem)
        self._leg_gone(closing.leg, out)

    def _miss(self, offer: Offer, cause: str, out: list[Command]) -> None:
        """An agent did not take the call: count it against them and try the next agent."""
        now = self._now
        call, agent = offer.call, offer.agent
        offer.active = False
        self._offers.pop(offer.offer_id, None)
        call.offers.pop(offer.offer_id, None)
        self._emit(
            out,
            CallAgentMissed(
                queue=offer.queue,
                agent_leg_uuid=offer.offer_id,
                cause=cause,
                ring_seconds=now - offer.started_at,
            ),
            call.call_id,
            agent.agent_id,
        )
        # The call looks for someone else while this agent is still reserved; the agent then
        # comes back like any freed agent, taking the head of the line (maybe this call again).
        if call.direct_to is not None:
            self._direct_missed(call, cause, out)
        elif call.status is CallStatus.RINGING and not call.offers:
            call.status = CallStatus.WAITING
            if not self._leave_if_due(call, out):
                self._route(call, out, "retry")
        delay, counts = agent.miss_penalty(cause)
        if counts:
            agent.no_answer_count += 1
        limit = agent.config.max_no_answer
        self._release(
            agent,
            out,
            call.call_id,
            no_fault=cause in NO_FAULT_CAUSES,
            delay=delay,
            not_ready=counts and limit > 0 and agent.no_answer_count >= limit,
        )
        self._serve(agent, out)

    def _direct_missed(self, call: Call, cause: str, out: list[Command]) -> None:
        """The one agent a call was meant for did not take it; nobody else is offered it.

        A click-to-call ends there (failed: the customer was never dialled). A call transferred
        to an agent goes back to the queue it was answered in, as a new arrival, as a blind
        transfer to that queue would have put it.
        """
        call.direct_to = None
        if call.placed:
            self._end(call, out, CallOutcome.FAILED, cause, None)
            return
        queue = self._queues.get(call.queue)
        if queue is None:
            self._send(call, self._fallback, out, CallOutcome.FAILED, "transfer_missed")
        else:
            self._enter(call, queue, out)

    # --- leaving the queue ---------------------------------------------------------------------

    def _end(
        self,
        call: Call,
        out: list[Command],
        outcome: CallOutcome,
        cause: str,
        hangup_by: str | None,
        talk: float = 0.0,
    ) -> None:
        """The call is done as far as routing goes: publish its one and only ``call.ended``.

        A call a CRM hung up ends with the cause it asked for, by the agent (answered) or the
        system, whichever leg's hangup the switch reported first."""
        if call.ended_by_request is not None:
            cause = call.ended_by_request
            hangup_by = "agent" if outcome is CallOutcome.ANSWERED else "system"
        call.status = CallStatus.DONE
        self._calls.pop(call.call_id, None)
        if call.offer is not None:
            self._offers.pop(call.offer.offer_id, None)
        self._emit(
            out,
            CallEnded(
                outcome=outcome,
                hangup_cause=cause,
                hangup_by=hangup_by,
                queue=call.queue,
                duration_seconds=max(self._now - call.arrived_at, 0.0),
                talk_seconds=max(talk, 0.0),
                hold_seconds=call.hold_seconds
                + (0.0 if call.held_since is None else max(self._now - call.held_since, 0.0)),
            ),
            call.call_id,
            call.agent.agent_id if call.agent is not None else None,
        )

    def _leave_if_due(self, call: Call, out: list[Command]) -> bool:
        """If a waiting caller is past max wait, overflow or the no-agent limit, send them on."""
        if call.is_callback or call.status is not CallStatus.WAITING:
            return False
        queue = self._queues[call.queue]
        config = queue.config
        waited = self._now - call.enqueued_at
        if config.max_wait_seconds is not None and waited >= config.max_wait_seconds:
            self._leave(call, queue, config.max_wait_destination, out, "max_wait")
            return True
        if config.overflow_after_seconds is not None and waited >= config.overflow_after_seconds:
            self._leave(call, queue, config.overflow_destination, out, "overflow")
            return True
        limit = config.max_wait_no_agents_seconds
        if limit is not None and queue.unstaffed_since is not None:
            since = max(call.enqueued_at, queue.unstaffed_since)
            if self._now - since >= limit:
                self._leave(call, queue, config.no_agents_destination, out, "no_agents")
                return True
        return False

    def _leave(
        self,
        call: Call,
        queue: QueueRuntime,
        destination: Destination | None,
        out: list[Command],
        why: str,
    ) -> None:
        """Overflow a waiting caller out of ``queue`` to ``destination``."""
        now = self._now
        wait = now - call.enqueued_at
        freed = self._cancel_offers(call, out, why)
        queue.remove(call)
        queue.service_level.record(now, wait, answered=False)
        target = self._resolve(destination, queue)
        label = target.target if target.kind == "queue" else str(target)
        self._emit(
            out,
            CallOverflowed(queue=queue.name, to_queue=label, wait_seconds=max(wait, 0.0)),
            call.call_id,
        )
        self._send(call, target, out, CallOutcome.OVERFLOWED, why)
        for agent in freed:
            self._serve(agent, out)

    def _block(
        self,
        call: Call,
        queue: QueueRuntime,
        reason: str,
        destination: Destination | None,
        out: list[Command],
    ) -> None:
        """Refuse a call at a queue's door (full, or nobody logged in) and send it on."""
        target = self._resolve(destination, queue)
        self._emit(
            out,
            CallBlocked(queue=queue.name, reason=reason, routed_to=str(target)),
            call.call_id,
        )
        self._send(call, target, out, CallOutcome.BLOCKED, reason)

    def _resolve(self, destination: Destination | None, queue: QueueRuntime | None) -> Destination:
        """The given destination, else the queue's fallback, else the platform fallback."""
        if destination is not None:
            return destination
        if queue is not None and queue.config.fallback is not None:
            return queue.config.fallback
        return self._fallback

    def _send(
        self, call: Call, target: Destination, out: list[Command], outcome: CallOutcome, why: str
    ) -> None:
        """Move the call into another queue, or hand it to the dialplan and end it here."""
        if target.kind == "queue":
            queue = self._queues.get(target.target)
            if queue is not None and call.hops < MAX_HOPS and target.target != call.queue:
                call.hops += 1
                self._enter(call, queue, out)
                return
            out.append(
                ReportProblem(
                    "bad_destination",
                    f"cannot send call to {target}: unknown queue, same queue or too many moves",
                    call_id=call.call_id,
                    queue=call.queue,
                )
            )
            target = self._fallback if self._fallback.kind != "queue" else Destination("hangup")
            if target.kind == "hangup" and not target.target:
                target = Destination("hangup", "NORMAL_CLEARING")
        out.append(TransferCall(call.call_id, target, why))
        cause = "BLIND_TRANSFER" if target.kind == "transfer" else target.target
        self._end(call, out, outcome, cause, "system")

    # --- entering a queue ----------------------------------------------------------------------

    def _enter(self, call: Call, queue: QueueRuntime, out: list[Command]) -> None:
        """A caller arrives in ``queue`` (first time or moved there): offer, or queue them."""
        config = queue.config
        if config.max_length is not None and len(queue) >= config.max_length:
            self._block(call, queue, "queue_full", config.full_destination, out)
            return
        if config.no_agents == "block" and queue.staffed == 0:
            self._block(call, queue, "no_agents", config.no_agents_destination, out)
            return
        call.enqueued_at = self._now
        self._place(call, queue)
        self._emit(
            out,
            CallOffered(
                queue=queue.name,
                priority=call.priority,
                caller_number=call.caller_number,
                dialed_number=call.dialed_number,
                customer_id=call.customer_id,
            ),
            call.call_id,
        )
        out.append(
            SetCallVariables(
                call.call_id,
                (
                    (VAR_QUEUE, queue.name),
                    (VAR_PRIORITY, str(call.priority)),
                    (VAR_ENQUEUED_AT, _seconds(call.enqueued_at)),
                ),
            )
        )
        out.append(PlayMusicOnHold(call.call_id, queue.name, config.music_on_hold))
        if not self._route(call, out, "arrival"):
            position = queue.position(call)
            self._emit(
                out,
                CallQueued(
                    queue=queue.name,
                    position=position,
                    estimated_wait_seconds=queue.estimated_wait(position),
                ),
                call.call_id,
            )

    def _place(self, call: Call, queue: QueueRuntime, *, seq: int | None = None) -> None:
        """Put the call in the queue's order and arm its timers (no events)."""
        call.queue = queue.name
        call.visit += 1
        if seq is None:
            self._seq += 1
            seq = self._seq
        call.seq = seq
        call.sort_key = (-call.priority, call.enqueued_at, seq)
        call.status = CallStatus.WAITING
        call.last_tried = None
        call.step = queue.step_at(call.enqueued_at, self._now)
        self._apply_step(call, queue)
        queue.add(call)
        self._calls[call.call_id] = call
        self._arm(call, queue)

    def _apply_step(self, call: Call, queue: QueueRuntime) -> None:
        """Set the call's requirement: the queue's current relaxation step and the call's own."""
        step = queue.step_requirement(call.step)
        own = call.own_requirement
        if step is None:
            call.requirement = own
        elif own is None:
            call.requirement = step
        else:
            call.requirement = step.both(own)

    def _arm(self, call: Call, queue: QueueRuntime) -> None:
        """Set the call's deadlines in this queue: relaxation, overflow, max wait, announcements."""
        timers, config, token = self._timers, queue.config, call.visit
        steps = queue.compiled.steps
        if call.step + 1 < len(steps):
            timers.set(call.enqueued_at + steps[call.step + 1][0], self._on_relax, call, token)
        if call.is_callback:
            if call.not_before > self._now:
                timers.set(call.not_before, self._on_callback_retry, call, token)
            return
        if config.overflow_after_seconds is not None:
            due = call.enqueued_at + config.overflow_after_seconds
            timers.set(due, self._on_wait_deadline, call, token)
        if config.max_wait_seconds is not None:
            timers.set(
                call.enqueued_at + config.max_wait_seconds, self._on_wait_deadline, call, token
            )
        limit = config.max_wait_no_agents_seconds
        if limit is not None and queue.unstaffed_since is not None:
            due = max(call.enqueued_at, queue.unstaffed_since) + limit
            timers.set(due, self._on_wait_deadline, call, token)
        if config.announce_every_seconds is not None:
            timers.set(self._now + config.announce_every_seconds, self._on_announce, call, token)

    # --- timers --------------------------------------------------------------------------------

    def _current(self, call: Call, token: int) -> QueueRuntime | None:
        """Return the call's queue if a call timer still concerns this stay in the queue."""
        if self._calls.get(call.call_id) is not call or call.visit != token:
            return None
        if call.status in (CallStatus.CONNECTING, CallStatus.CONNECTED, CallStatus.DONE):
            return None
        return self._queues.get(call.queue)

    def _on_ring_timeout(self, offer: Offer, token: int, out: list[Command]) -> None:
        if not offer.active:
            return
        self._hang_up_leg(offer.offer_id, offer.call.call_id, offer.agent, "ring_timeout", out)
        self._miss(offer, "NO_ANSWER", out)

    def _on_wrap_up_end(self, agent: Agent, token: int, out: list[Command]) -> None:
        if agent.state is AgentState.WRAP_UP and agent.token == token:
            self._after_work(agent, out)

    def _on_agent_ready(self, agent: Agent, token: int, out: list[Command]) -> None:
        if agent.token == token and agent.state is AgentState.AVAILABLE:
            self._reindex(agent)
            self._serve(agent, out)

    def _on_relax(self, call: Call, token: int, out: list[Command]) -> None:
        """A requirement step is due: bring every call of the queue up to date, then offer them
        in line order, so a call ahead that relaxes at the same moment is served first."""
        queue = self._current(call, token)
        if queue is None:
            return
        steps = queue.compiled.steps
        call.step = queue.step_at(call.enqueued_at, self._now)
        if call.step + 1 < len(steps):
            due = call.enqueued_at + steps[call.step + 1][0]
            self._timers.set(due, self._on_relax, call, token)
        for other in queue.calls():
            step = queue.step_at(other.enqueued_at, self._now)
            if step != other.step or other is call:
                other.step = step
                self._apply_step(other, queue)
        for other in queue.calls():
            if other.status is CallStatus.WAITING:
                self._route(other, out, "relaxed" if other is call else "rebalance")

    def _on_wait_deadline(self, call: Call, token: int, out: list[Command]) -> None:
        if self._current(call, token) is not None:
            self._leave_if_due(call, out)

    def _on_announce(self, call: Call, token: int, out: list[Command]) -> None:
        queue = self._current(call, token)
        if queue is None or call.is_callback:
            return
        position = queue.position(call)
        out.append(
            PlayAnnouncement(call.call_id, queue.name, position, queue.estimated_wait(position))
        )
        every = queue.config.announce_every_seconds
        if every is not None:
            self._timers.set(self._now + every, self._on_announce, call, token)

    def _on_ring_more(self, call: Call, token: int, out: list[Command]) -> None:
        """ring-progressively: add the next agent in order, keep the others ringing."""
        if self._calls.get(call.call_id) is not call or call.ring_round != token:
            return
        if call.status is not CallStatus.RINGING or self._holding:
            return
        queue = self._queues[call.queue]
        chosen = pick_agents(
            Strategy.TOP_DOWN,
            queue.index,
            call.requirement,
            start_after=call.last_tried,
            rng=self._rng,
        )
        if chosen:
            if self._explain:
                self._log.add(self._decision(queue, call, chosen, "ring_more", None, ()))
            self._offer(call, chosen[0], queue, out)
        due = self._now + queue.config.ring_progressively_delay_seconds
        self._timers.set(due, self._on_ring_more, call, token)

    def _on_callback_retry(self, call: Call, token: int, out: list[Command]) -> None:
        if self._current(call, token) is not None:
            self._route(call, out, "callback_retry")

    def _on_dial_timeout(self, call: Call, token: int, out: list[Command]) -> None:
        live = self._calls.get(call.call_id) is call and call.status is CallStatus.DIALING
        if live and call.attempts == token:
            self._callback_failed(call, "NO_ANSWER", out)

    # --- callbacks -----------------------------------------------------------------------------

    def _dial_customer(self, call: Call, offer: Offer, out: list[Command]) -> None:
        """The agent picked up a callback: keep them reserved and dial the customer."""
        queue = self._queues[call.queue]
        freed = self._hold_agent(call, offer, CallStatus.DIALING, out)
        timeout = queue.config.callback_dial_timeout_seconds
        out.append(
            DialCustomer(
                call_id=call.call_id,
                number=call.callback_number or "",
                offer_id=offer.offer_id,
                agent_id=offer.agent.agent_id,
                queue=queue.name,
                timeout_seconds=timeout,
            )
        )
        due = self._now + timeout + DIAL_GRACE_SECONDS
        self._timers.set(due, self._on_dial_timeout, call, call.attempts)
        for agent in freed:
            self._serve(agent, out)

    def _callback_failed(self, call: Call, cause: str, out: list[Command]) -> None:
        """The customer did not pick up: free the agent, retry later or give up."""
        queue = self._queues[call.queue]
        offer = call.offer
        call.offer = None
        call.offers.clear()
        call.callback_attempts += 1
        agent = offer.agent if offer is not None else None
        if offer is not None and agent is not None:
            self._offers.pop(offer.offer_id, None)
            self._hang_up_leg(offer.offer_id, call.call_id, agent, "callback_failed", out)
            self._release(agent, out, call.call_id, no_fault=True)
        if call.placed or call.callback_attempts >= queue.config.callback_max_attempts:
            queue.remove(call)
            if call.origin_call_id is not None:
                self._callback_of.pop(call.origin_call_id, None)
            self._end(call, out, CallOutcome.FAILED, cause, None)
        else:
            call.status = CallStatus.WAITING
            call.not_before = self._now + queue.config.callback_retry_seconds
            self._timers.set(call.not_before, self._on_callback_retry, call, call.visit)
        if agent is not None:
            self._serve(agent, out)
