"""Answered calls and CTI: a hang-up by the caller or a CRM, hold and resume, blind transfers
(to a number, a queue or an agent), click-to-call, and the end of a conversation into wrap-up.
"""

from __future__ import annotations

from typing import Literal

from cc_proto.events import (
    AgentState,
    CallHeld,
    CallOutcome,
    CallPlaced,
    CallResumed,
    CallTransferred,
)
from cc_routing.core.agents import Agent
from cc_routing.core.calls import Call, CallStatus, ParkedCall
from cc_routing.core.commands import (
    Command,
    HangupCall,
    HoldCall,
    ParkCaller,
    PlayMusicOnHold,
    ReportProblem,
    TransferOut,
)
from cc_routing.core.floor import RoutingError, Subject, hangup_cause


class Conversations(Subject):
    """Carry answered calls through CTI commands to their end."""

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
        cause = hangup_cause(cause)
        out = self.floor.begin(now)
        call = self.floor.calls.get(call_id)
        if call is None:
            return out
        at = None if hung_up_at is None else min(hung_up_at, self.floor.now)
        if call.status is CallStatus.CONNECTED:
            self._agent_leg_follows(call)
            self.finish(call, out, "caller", cause, at=at)
        elif call.direct_to is not None and not call.placed:
            self._transfer_abandoned(call, out, cause)
        elif call.status is CallStatus.DIALING:
            self.callbacks.callback_failed(call, cause, out)
        elif not call.is_callback:
            self.line.abandon(call, out, cause, at=at)
        return out

    def hang_up(self, call_id: str, cause: str, now: float) -> list[Command]:
        """A CRM or supervisor ends a call: hang up the caller's (or callback customer's) leg.

        Routing's state follows from the switch's hangup events, as for any hangup, so an
        answered call ends (by the agent, with ``cause``) and frees its agent into wrap-up;
        a waiting one leaves the queue (by the system).
        A booked callback not being dialled has no line to hang up (RoutingError).
        """
        call = self.floor.calls.get(call_id)
        if call is None or call.status is CallStatus.DONE:
            raise RoutingError(f"routing holds no call {call_id!r}")
        if call.placed and call.status is CallStatus.RINGING:
            return self._cancel_placed(call, cause, now)
        if call.is_callback and call.status in (CallStatus.WAITING, CallStatus.RINGING):
            raise RoutingError(f"call {call_id!r} is a booked callback with no line to hang up")
        out = self.floor.begin(now)
        if self.floor.calls.get(call_id) is call:
            call.ended_by_request = cause
            out.append(HangupCall(call_id, cause))
        return out

    def transfer_to_number(self, call_id: str, number: str, now: float) -> list[Command]:
        """Blind-transfer an answered call to ``number`` (an E.164 number the caller checked).

        For routing the call ends here (``transferred_out``, by the agent) and the agent goes
        into wrap-up; the dialplan reaches the number. Only a conversation can be transferred.
        """
        call = self._answered(call_id)
        out = self.floor.begin(now)
        if self.floor.calls.get(call_id) is not call or call.status is not CallStatus.CONNECTED:
            return out  # it ended while the timers caught up
        agent_id = call.agent.agent_id if call.agent is not None else None
        self.floor.emit(
            out,
            CallTransferred(kind="blind", target_kind="number", target=number, queue=call.queue),
            call_id,
            agent_id,
        )
        out.append(TransferOut(call_id, number))
        self._agent_leg_follows(call)
        self.finish(call, out, "agent", "BLIND_TRANSFER", outcome=CallOutcome.TRANSFERRED_OUT)
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
        queue = self.floor.queues.get(queue_name)
        if queue is None:
            raise RoutingError(f"no queue named {queue_name!r}")
        out = self.floor.begin(now)
        if self.floor.calls.get(call_id) is not call or call.status is not CallStatus.CONNECTED:
            return out
        agent = self._out_of_the_bridge(call, "queue", queue_name, out)
        old = self.floor.queues.get(call.queue)
        if old is not None:
            old.remove(call)
        call.hops += 1
        call.direct_to = None
        if agent is not None:
            self._leave_conversation(agent, call, self.floor.now - call.answered_at, out)
        self.line.enter(call, queue, out)
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
        target = self.states.agent(agent_id)
        if call.agent is target:
            raise RoutingError(f"call {call_id!r} is already with agent {agent_id!r}")
        self._check_free(target, now)
        out = self.floor.begin(now)
        if self.floor.calls.get(call_id) is not call or call.status is not CallStatus.CONNECTED:
            return out
        queue = self.floor.queues.get(call.queue)
        if queue is None or not target.offerable(self.floor.now):
            out.append(ReportProblem("transfer_refused", f"agent {agent_id!r} was taken first"))
            return out
        agent = self._out_of_the_bridge(call, "agent", agent_id, out)
        if agent is not None:
            self._leave_conversation(agent, call, self.floor.now - call.answered_at, out)
        call.direct_to = agent_id
        call.enqueued_at = self.floor.now
        out.append(PlayMusicOnHold(call_id, queue.name, queue.config.music_on_hold))
        self.offering.offer(call, target, queue, out)
        return out

    def _out_of_the_bridge(
        self, call: Call, target_kind: Literal["queue", "agent"], target: str, out: list[Command]
    ) -> Agent | None:
        """A blind transfer begins: publish it, park the caller out of the bridge (the agent's
        leg ends with it, and their phone is busy until it has); return that agent."""
        agent, offer = call.agent, call.offer
        transferred = CallTransferred(
            kind="blind",
            target_kind=target_kind,
            target=target,
            queue=call.queue,
            talk_seconds=max(self.floor.now - call.answered_at, 0.0),
            hold_seconds=call.hold_until(self.floor.now),
        )
        call.hold_seconds, call.held_since = 0.0, None  # the next agent's part starts afresh
        self.floor.emit(
            out, transferred, call.call_id, agent.agent_id if agent is not None else None
        )
        if offer is not None:
            self.floor.offers.pop(offer.offer_id, None)
            if agent is not None:
                self.legs.expect_leg_end(offer.offer_id, call.call_id, agent)
        out.append(ParkCaller(call.call_id, "transferred"))
        call.offer = None
        call.agent = None
        call.offers = {}
        return agent

    def _transfer_abandoned(self, call: Call, out: list[Command], cause: str) -> None:
        """The caller hung up while being transferred to an agent: the call (answered by the
        first agent) ends; the agent being rung is freed."""
        freed = self.answers.cancel_offers(call, out, "caller_abandoned")
        self.line.end(call, out, CallOutcome.ANSWERED, cause, "caller")
        for agent in freed:
            self.offering.serve(agent, out)

    def new_call_id(self) -> str:
        """Return a fresh call id, made as agent legs' ids are (a uuid4 in a deployment): a
        click-to-call's customer leg gets it, and the API names the call before placing it."""
        return self.floor.new_id()

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
        agent = self.states.agent(agent_id)
        runtime = self.floor.queues.get(queue)
        if runtime is None:
            raise RoutingError(f"no queue named {queue!r}")
        if call_id in self.floor.calls:
            raise RoutingError(f"call {call_id!r} exists already")
        self._check_free(agent, now)
        out = self.floor.begin(now)
        if not agent.offerable(self.floor.now):
            out.append(ReportProblem("agent_taken", f"agent {agent_id!r} was offered a call first"))
            return out
        parked = ParkedCall(call_id, queue, dialed_number=number, customer_id=customer_id)
        call = Call(parked, None, self.floor.now)
        call.callback_number = number
        call.placed = True
        call.direct_to = agent_id
        self.floor.calls[call_id] = call
        self.floor.emit(
            out,
            CallPlaced(queue=queue, dialed_number=number, customer_id=customer_id),
            call_id,
            agent_id,
        )
        self.offering.offer(call, agent, runtime, out)
        return out

    def _cancel_placed(self, call: Call, cause: str, now: float) -> list[Command]:
        """A click-to-call hung up while the agent still rings: stop the ring, end it there."""
        out = self.floor.begin(now)
        if self.floor.calls.get(call.call_id) is not call or call.status is not CallStatus.RINGING:
            return out
        freed = self.answers.cancel_offers(call, out, "hung_up")
        self.line.end(call, out, CallOutcome.FAILED, cause, "system")
        for agent in freed:
            self.offering.serve(agent, out)
        return out

    def _check_free(self, agent: Agent, now: float) -> None:
        """Refuse (RoutingError, with why) an agent who could not be offered a call now."""
        if self.floor.holding:
            raise RoutingError("routing is handing over to another instance: try again")
        if agent.state is not AgentState.AVAILABLE:
            raise RoutingError(f"agent {agent.agent_id!r} is not available ({agent.state.value})")
        if agent.ready_at > max(now, self.floor.now):
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
        out = self.floor.begin(now)
        if self.floor.calls.get(call_id) is not call or call.offer is None:
            return out
        call.held_since = self.floor.now
        self.floor.emit(out, CallHeld(queue=call.queue), call_id, call.offer.agent.agent_id)
        out.append(HoldCall(call_id, call.offer.offer_id, on=True))
        return out

    def resume_call(self, call_id: str, now: float) -> list[Command]:
        """The caller comes off hold; the hold's length is published and kept for call.ended."""
        call = self._answered(call_id, "resumed")
        if call.held_since is None:
            raise RoutingError(f"call {call_id!r} is not on hold")
        out = self.floor.begin(now)
        if (
            self.floor.calls.get(call_id) is not call
            or call.offer is None
            or call.held_since is None
        ):
            return out
        held = max(self.floor.now - call.held_since, 0.0)
        call.hold_seconds += held
        call.held_since = None
        self.floor.emit(
            out,
            CallResumed(queue=call.queue, hold_seconds=held),
            call_id,
            call.offer.agent.agent_id,
        )
        out.append(HoldCall(call_id, call.offer.offer_id, on=False))
        return out

    def _answered(self, call_id: str, what: str = "transferred") -> Call:
        """The call, if it is a conversation with an agent (RoutingError otherwise)."""
        call = self.floor.calls.get(call_id)
        if call is None:
            raise RoutingError(f"routing holds no call {call_id!r}")
        if call.status is not CallStatus.CONNECTED or call.agent is None:
            raise RoutingError(
                f"call {call_id!r} is {call.status.value}: only an answered call can be {what}"
            )
        return call

    def _agent_leg_follows(self, call: Call) -> None:
        """The caller left the bridge: FreeSWITCH hangs up the agent's leg after it
        (``hangup_after_bridge``), and the agent is offered nothing until that is heard."""
        offer, agent = call.offer, call.agent
        if offer is not None and agent is not None:
            self.legs.expect_leg_end(offer.offer_id, call.call_id, agent)

    def finish(
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
        talk = (self.floor.now if at is None else at) - call.answered_at
        self.line.end(call, out, outcome, cause, hangup_by, talk)
        if call.origin_call_id is not None:
            self.floor.callback_of.pop(call.origin_call_id, None)
        if agent is not None:
            self._leave_conversation(agent, call, talk, out)

    def _leave_conversation(
        self, agent: Agent, call: Call, talk: float, out: list[Command]
    ) -> None:
        """The agent is done talking on ``call``: count the talk, then wrap-up (or what is next)."""
        agent.talk_seconds += max(talk, 0.0)
        agent.call = None
        agent.last_call = call
        queue = self.floor.queues.get(call.queue)
        wrap = agent.config.wrap_up_seconds
        if queue is not None and queue.config.wrap_up_seconds is not None:
            wrap = queue.config.wrap_up_seconds
        if queue is not None:
            queue.record_handle_time(max(talk, 0.0) + wrap)
        self.states.wrap_up_or_next(agent, wrap, out, call.call_id)
