"""Callbacks: a caller leaving the line to be called back in their place, the agent who takes
the callback, dialling the customer (answered, unreachable, timed out), retries, and a booked
callback put back after a restart.
"""

from __future__ import annotations

from cc_proto.events import CallCallbackRequested, CallOutcome
from cc_routing.core.calls import Call, CallStatus, Offer, ParkedCall
from cc_routing.core.commands import Command, DialCustomer, ReleaseCaller, ReportProblem
from cc_routing.core.expressions import parse_requirement
from cc_routing.core.floor import RoutingError, Subject, hangup_cause

DIAL_GRACE_SECONDS = 5.0
"""Slack after a callback dial timeout before the core gives up on hearing from the adapter."""


class Callbacks(Subject):
    """Book, dial, retry and restore callbacks."""

    def dial_customer(self, call: Call, offer: Offer, out: list[Command]) -> None:
        """The agent picked up a callback: keep them reserved and dial the customer."""
        queue = self.floor.queues[call.queue]
        freed = self.answers.hold_agent(call, offer, CallStatus.DIALING, out)
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
        due = self.floor.now + timeout + DIAL_GRACE_SECONDS
        self.floor.timers.set(due, self._on_dial_timeout, call, call.attempts)
        for agent in freed:
            self.offering.serve(agent, out)

    def callback_failed(self, call: Call, cause: str, out: list[Command]) -> None:
        """The customer did not pick up: free the agent, retry later or give up."""
        queue = self.floor.queues[call.queue]
        offer = call.offer
        call.offer = None
        call.offers.clear()
        call.callback_attempts += 1
        agent = offer.agent if offer is not None else None
        if offer is not None and agent is not None:
            self.floor.offers.pop(offer.offer_id, None)
            self.legs.hang_up_leg(offer.offer_id, call.call_id, agent, "callback_failed", out)
            self.states.release(agent, out, call.call_id, no_fault=True)
        if call.placed or call.callback_attempts >= queue.config.callback_max_attempts:
            queue.remove(call)
            if call.origin_call_id is not None:
                self.floor.callback_of.pop(call.origin_call_id, None)
            self.line.end(call, out, CallOutcome.FAILED, cause, None)
        else:
            call.status = CallStatus.WAITING
            call.not_before = self.floor.now + queue.config.callback_retry_seconds
            self.floor.timers.set(call.not_before, self.on_callback_retry, call, call.visit)
        if agent is not None:
            self.offering.serve(agent, out)

    def _on_dial_timeout(self, call: Call, token: int, out: list[Command]) -> None:
        live = self.floor.calls.get(call.call_id) is call and call.status is CallStatus.DIALING
        if live and call.attempts == token:
            self.callback_failed(call, "NO_ANSWER", out)

    def on_callback_retry(self, call: Call, token: int, out: list[Command]) -> None:
        if self.line.current(call, token) is not None:
            self.offering.route(call, out, "callback_retry")

    def customer_answered(self, call_id: str, now: float) -> list[Command]:
        """The callback customer picked up: bridge them to the waiting agent."""
        out = self.floor.begin(now)
        call = self.floor.calls.get(call_id)
        if call is None or call.status is not CallStatus.DIALING or call.offer is None:
            out.append(ReportProblem("unknown_callback", f"no callback being dialled: {call_id}"))
            return out
        self.answers.connect(call, call.offer, out)
        return out

    def customer_unreachable(self, call_id: str, cause: str, now: float) -> list[Command]:
        """The callback dial failed: the agent is freed, the callback retried or given up."""
        cause = hangup_cause(cause)
        out = self.floor.begin(now)
        call = self.floor.calls.get(call_id)
        if call is not None and call.status is CallStatus.DIALING:
            self.callback_failed(call, cause, out)
        return out

    def request_callback(self, call_id: str, number: str, now: float) -> list[Command]:
        """The caller leaves the line to be called back, keeping their place and enqueue time."""
        call = self.floor.calls.get(call_id)
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
        out = self.floor.begin(now)
        if self.floor.calls.get(call_id) is not call or call.status not in (
            CallStatus.WAITING,
            CallStatus.RINGING,
        ):
            return out  # it was answered or left while the timers caught up
        queue = self.floor.queues[call.queue]
        position = queue.position(call)
        freed = self.answers.cancel_offers(call, out, "callback_requested")
        callback = self._callback_entry(call, number.strip())
        queue.replace(call, callback)
        self.floor.calls[callback.call_id] = callback
        self.floor.callback_of[call_id] = callback.call_id
        self.floor.emit(
            out,
            CallCallbackRequested(
                queue=queue.name,
                callback_number=callback.callback_number or number,
                wait_seconds=max(self.floor.now - call.enqueued_at, 0.0),
                position=position,
                callback_call_id=callback.call_id,
                priority=call.priority,
            ),
            call_id,
        )
        out.append(ReleaseCaller(call_id, "callback_requested"))
        self.line.end(call, out, CallOutcome.CALLBACK, "NORMAL_CLEARING", "system")
        self.line.arm(callback, queue)
        for agent in freed:  # they take the head of the line, which may be this callback
            self.offering.serve(agent, out)
        return out

    def _callback_entry(self, call: Call, number: str) -> Call:
        """Build the callback that takes over the caller's exact place in the queue."""
        callback = Call(
            ParkedCall(self.floor.new_id(), call.queue, call.priority, None, None, number),
            call.own_requirement,
            self.floor.now,
        )
        callback.arrived_at = self.floor.now
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
        out = self.floor.begin(now)
        runtime = self.floor.queues.get(queue)
        if runtime is None:
            raise RoutingError(f"cannot restore callback {callback_id}: unknown queue {queue!r}")
        own = parse_requirement(skills, known_skills=self.floor.known_skills) if skills else None
        call = Call(
            ParkedCall(callback_id, queue, priority, enqueued_at, skills), own, self.floor.now
        )
        call.enqueued_at = enqueued_at
        call.callback_number = number
        call.origin_call_id = origin_call_id
        call.callback_attempts = attempts
        self.line.place(call, runtime)
        if origin_call_id is not None:
            self.floor.callback_of[origin_call_id] = callback_id
        return out
