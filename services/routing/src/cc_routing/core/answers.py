"""What becomes of a ring: the agent answers (bridge asked, then confirmed by FreeSWITCH), the
bridge fails, the ring times out or fails (a miss counted against the agent), or routing cancels
it; the agent-leg events from the switch come in here.
"""

from __future__ import annotations

from cc_proto.events import AgentState, CallAgentMissed, CallAnswered, CallOutcome
from cc_routing.core.agents import NO_FAULT_CAUSES, Agent
from cc_routing.core.calls import (
    VAR_AGENT,
    VAR_AGENT_LEG,
    VAR_ANSWERED_AT,
    Call,
    CallStatus,
    Offer,
    seconds_var,
)
from cc_routing.core.commands import (
    BridgeCall,
    CancelOffer,
    Command,
    HangupCall,
    ReportProblem,
    SetCallVariables,
)
from cc_routing.core.floor import Subject, hangup_cause


class Answers(Subject):
    """Answer, bridge, miss or cancel the rings of agent legs."""

    def _bridge(self, call: Call, offer: Offer, out: list[Command]) -> None:
        """The agent picked up: stop the other rings and bridge, keeping the agent reserved.

        The answer counts only once FreeSWITCH confirms the bridge (:meth:`connect`): a caller
        who hangs up before that never reached the agent, so it is an abandon, not an answer.
        """
        offer.answered_at = self.floor.now
        freed = self.hold_agent(call, offer, CallStatus.CONNECTING, out)
        out.append(BridgeCall(call.call_id, offer.offer_id, offer.agent.agent_id))
        for other in freed:
            self.offering.serve(other, out)

    def hold_agent(
        self, call: Call, offer: Offer, status: CallStatus, out: list[Command]
    ) -> list[Agent]:
        """Keep the agent who picked up reserved for the call, stop its other rings.

        Returns the agents those rings freed, to be served once the call is settled.
        """
        offer.active = False
        call.offers.pop(offer.offer_id, None)
        freed = self.cancel_offers(call, out, "answered_elsewhere")
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
        queue = self.floor.queues[call.queue]
        call.offer = None
        call.status = CallStatus.RINGING
        offer.active = True
        call.visit += 1
        self.line.arm(call, queue)
        self._miss(offer, cause, out)

    def connect(
        self, call: Call, offer: Offer, out: list[Command], *, at: float | None = None
    ) -> None:
        """The caller and the agent are bridged: count the answer and put the agent on the call.

        For a callback the customer's answer is the moment; the bridge is sent from here.
        ``at`` is FreeSWITCH's time of the bridge when it is learnt late (a restore).
        """
        now = self.floor.now if at is None else min(at, self.floor.now)
        agent = offer.agent
        queue = self.floor.queues.get(call.queue)
        bridged = call.status is CallStatus.CONNECTING
        offer.active = False
        call.offers.pop(offer.offer_id, None)
        freed = self.cancel_offers(call, out, "answered_elsewhere")
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
                    (VAR_ANSWERED_AT, seconds_var(now)),
                ),
            )
        )
        picked_up = offer.answered_at if offer.answered_at is not None else now
        self.floor.emit(
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
        self.states.set_state(agent, AgentState.ON_CALL, out, call_id=call.call_id)
        for other in freed:
            self.offering.serve(other, out)

    def cancel_offers(self, call: Call, out: list[Command], reason: str) -> list[Agent]:
        """Stop ringing every agent still rung for ``call``; return them (serve them afterwards)."""
        freed: list[Agent] = []
        for offer in list(call.offers.values()):
            offer.active = False
            self.floor.offers.pop(offer.offer_id, None)
            agent = offer.agent
            self.legs.hang_up_leg(offer.offer_id, call.call_id, agent, reason, out)
            self.states.release(agent, out, call.call_id, no_fault=True)
            freed.append(agent)
        call.offers.clear()
        return freed

    def _miss(self, offer: Offer, cause: str, out: list[Command]) -> None:
        """An agent did not take the call: count it against them and try the next agent."""
        now = self.floor.now
        call, agent = offer.call, offer.agent
        offer.active = False
        self.floor.offers.pop(offer.offer_id, None)
        call.offers.pop(offer.offer_id, None)
        self.floor.emit(
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
            self.direct_missed(call, cause, out)
        elif call.status is CallStatus.RINGING and not call.offers:
            call.status = CallStatus.WAITING
            if not self.line.leave_if_due(call, out):
                self.offering.route(call, out, "retry")
        delay, counts = agent.miss_penalty(cause)
        if counts:
            agent.no_answer_count += 1
        limit = agent.config.max_no_answer
        self.states.release(
            agent,
            out,
            call.call_id,
            no_fault=cause in NO_FAULT_CAUSES,
            delay=delay,
            not_ready=counts and limit > 0 and agent.no_answer_count >= limit,
        )
        self.offering.serve(agent, out)

    def direct_missed(self, call: Call, cause: str, out: list[Command]) -> None:
        """The one agent a call was meant for did not take it; nobody else is offered it.

        A click-to-call ends there (failed: the customer was never dialled). A call transferred
        to an agent goes back to the queue it was answered in, as a new arrival, as a blind
        transfer to that queue would have put it.
        """
        call.direct_to = None
        if call.placed:
            self.line.end(call, out, CallOutcome.FAILED, cause, None)
            return
        queue = self.floor.queues.get(call.queue)
        if queue is None:
            self.line.send(call, self.floor.fallback, out, CallOutcome.FAILED, "transfer_missed")
        else:
            self.line.enter(call, queue, out)

    def on_ring_timeout(self, offer: Offer, token: int, out: list[Command]) -> None:
        if not offer.active:
            return
        self.legs.hang_up_leg(offer.offer_id, offer.call.call_id, offer.agent, "ring_timeout", out)
        self._miss(offer, "NO_ANSWER", out)

    def withdraw_offer(self, agent: Agent, out: list[Command], reason: str) -> None:
        """Stop ringing an agent who left; the call keeps its place and looks for someone else."""
        offer = agent.offer
        if offer is None or not offer.active:
            return
        call = offer.call
        offer.active = False
        self.floor.offers.pop(offer.offer_id, None)
        call.offers.pop(offer.offer_id, None)
        agent.offer = None
        self.legs.hang_up_leg(offer.offer_id, call.call_id, agent, reason, out)
        if call.direct_to is not None:
            self.direct_missed(call, reason, out)
        elif call.status is CallStatus.RINGING and not call.offers:
            call.status = CallStatus.WAITING
            if not self.line.leave_if_due(call, out):
                self.offering.route(call, out, "retry")

    def _offer_for(self, offer_id: str, out: list[Command], what: str) -> Offer | None:
        offer = self.floor.offers.get(offer_id)
        if offer is None:
            out.append(ReportProblem("unknown_agent_leg", f"{what}: no offer {offer_id}"))
        return offer

    def agent_answered(self, offer_id: str, now: float) -> list[Command]:
        """The agent leg ``offer_id`` answered: bridge (or, for a callback, dial the customer)."""
        out = self.floor.begin(now)
        offer = self._offer_for(offer_id, out, "agent answered")
        if offer is None:
            return out
        if not offer.active:
            out.append(ReportProblem("stale_agent_leg", f"offer {offer_id} is no longer ringing"))
            return out
        if offer.call.is_callback:
            self.callbacks.dial_customer(offer.call, offer, out)
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
        out = self.floor.begin(now)
        call = self.floor.calls.get(call_id)
        if call is None or call.status is not CallStatus.CONNECTING or call.offer is None:
            return out  # a callback's bridge, or a caller routing already let go
        self.connect(call, call.offer, out, at=bridged_at)
        return out

    def bridge_failed(self, offer_id: str, now: float) -> list[Command]:
        """FreeSWITCH refused the bridge: hang up the agent leg.

        Its hangup (:meth:`agent_hung_up`, no fault of the agent's) puts the caller back in
        their place; if the caller is what vanished, their own hangup makes it an abandon.
        """
        out = self.floor.begin(now)
        offer = self.floor.offers.get(offer_id)
        if offer is not None and offer.call.status is CallStatus.CONNECTING:
            call = offer.call
            out.append(CancelOffer(offer_id, call.call_id, offer.agent.agent_id, "bridge_failed"))
        return out

    def offer_failed(self, offer_id: str, cause: str, now: float) -> list[Command]:
        """The agent leg ended without answering (``cause`` is FreeSWITCH's hangup cause)."""
        cause = hangup_cause(cause)
        out = self.floor.begin(now)
        offer = self.floor.offers.get(offer_id)
        if offer is not None and offer.active:
            self._miss(offer, cause, out)
        self.legs.leg_gone(offer_id, out)  # our own hangup coming back: the phone is free
        return out

    def agent_hung_up(
        self, offer_id: str, now: float, *, cause: str = "NORMAL_CLEARING"
    ) -> list[Command]:
        """The agent leg hung up: a miss while ringing, the end of the conversation after it."""
        cause = hangup_cause(cause)
        out = self.floor.begin(now)
        self.legs.leg_gone(offer_id, out)
        offer = self.floor.offers.get(offer_id)
        if offer is None:
            return out
        call = offer.call
        if offer.active:
            self._miss(offer, cause, out)
        elif call.status is CallStatus.DIALING:
            out.append(HangupCall(call.call_id, "ORIGINATOR_CANCEL"))
            self.callbacks.callback_failed(call, "AGENT_HANGUP", out)
        elif call.status is CallStatus.CONNECTING:
            self._bridge_failed(call, offer, cause, out)
        elif call.status is CallStatus.CONNECTED:
            self.conversations.finish(call, out, "agent", cause)
        return out
