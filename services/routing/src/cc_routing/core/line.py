"""A call's stay in a queue: arriving (or refused at the door), its place in line and its
deadlines (relaxation steps, overflow, max wait, no agents, announcements), leaving (overflow,
abandon, sent to another queue or the dialplan) and its one ``call.ended``.
"""

from __future__ import annotations

from cc_proto.events import (
    CallAbandoned,
    CallBlocked,
    CallEnded,
    CallOffered,
    CallOutcome,
    CallOverflowed,
    CallQueued,
)
from cc_routing.core.calls import (
    MAX_PRIORITY,
    VAR_ENQUEUED_AT,
    VAR_PRIORITY,
    VAR_QUEUE,
    Call,
    CallStatus,
    ParkedCall,
    seconds_var,
)
from cc_routing.core.commands import (
    Command,
    PlayAnnouncement,
    PlayMusicOnHold,
    ReportProblem,
    SetCallVariables,
    TransferCall,
)
from cc_routing.core.config import Destination
from cc_routing.core.expressions import ExpressionError, Requirement, parse_requirement
from cc_routing.core.floor import Subject
from cc_routing.core.queues import QueueRuntime

MAX_HOPS = 8
"""How many queue-to-queue moves a call may make before it goes to the fallback (loop guard)."""


class Line(Subject):
    """Queue calls, keep their deadlines, and send them on."""

    def call_arrived(self, parked: ParkedCall, now: float) -> list[Command]:
        """A caller was parked for a queue: offer them to an agent or queue them.

        An unknown or broken queue sends the call to its fallback (never dropped); a malformed
        per-call skill expression is reported and ignored (the queue's own requirement applies).
        """
        out = self.floor.begin(now)
        if parked.call_id in self.floor.calls:
            out.append(
                ReportProblem(
                    "duplicate_call", "call is already in routing", call_id=parked.call_id
                )
            )
            return out
        own = self.call_requirement(parked, out)
        call = Call(parked, own, self.floor.now)
        call.priority = self.priority(parked, out)
        queue = self.floor.queues.get(parked.queue)
        if queue is None:
            self.unknown_queue(call, out)
        else:
            self.enter(call, queue, out)
        return out

    def priority(self, parked: ParkedCall, out: list[Command]) -> int:
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

    def call_requirement(self, parked: ParkedCall, out: list[Command]) -> Requirement | None:
        if not parked.skills:
            return None
        try:
            return parse_requirement(parked.skills, known_skills=self.floor.known_skills)
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

    def unknown_queue(self, call: Call, out: list[Command]) -> None:
        """Park for a queue we do not have: report, publish and send to the fallback."""
        broken = self.floor.broken.get(call.queue)
        if broken is not None:
            target = broken[0] or self.floor.fallback
            reason, message = "closed", f"queue {call.queue!r} is misconfigured: {broken[1]}"
        else:
            target = self.floor.fallback
            reason, message = "unknown_queue", f"no queue named {call.queue!r}"
        out.append(ReportProblem(reason, message, call_id=call.call_id, queue=call.queue))
        self.floor.emit(
            out,
            CallBlocked(queue=call.queue, reason=reason, routed_to=str(target)),
            call.call_id,
        )
        self.send(call, target, out, CallOutcome.BLOCKED, reason)

    def enter(self, call: Call, queue: QueueRuntime, out: list[Command]) -> None:
        """A caller arrives in ``queue`` (first time or moved there): offer, or queue them."""
        config = queue.config
        if config.max_length is not None and len(queue) >= config.max_length:
            self._block(call, queue, "queue_full", config.full_destination, out)
            return
        if config.no_agents == "block" and queue.staffed == 0:
            self._block(call, queue, "no_agents", config.no_agents_destination, out)
            return
        call.enqueued_at = self.floor.now
        self.place(call, queue)
        self.floor.emit(
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
                    (VAR_ENQUEUED_AT, seconds_var(call.enqueued_at)),
                ),
            )
        )
        out.append(PlayMusicOnHold(call.call_id, queue.name, config.music_on_hold))
        if not self.offering.route(call, out, "arrival"):
            position = queue.position(call)
            self.floor.emit(
                out,
                CallQueued(
                    queue=queue.name,
                    position=position,
                    estimated_wait_seconds=queue.estimated_wait(position),
                ),
                call.call_id,
            )

    def place(self, call: Call, queue: QueueRuntime, *, seq: int | None = None) -> None:
        """Put the call in the queue's order and arm its timers (no events)."""
        call.queue = queue.name
        call.visit += 1
        if seq is None:
            self.floor.seq += 1
            seq = self.floor.seq
        call.seq = seq
        call.sort_key = (-call.priority, call.enqueued_at, seq)
        call.status = CallStatus.WAITING
        call.last_tried = None
        call.step = queue.step_at(call.enqueued_at, self.floor.now)
        self.apply_step(call, queue)
        queue.add(call)
        self.floor.calls[call.call_id] = call
        self.arm(call, queue)

    def apply_step(self, call: Call, queue: QueueRuntime) -> None:
        """Set the call's requirement: the queue's current relaxation step and the call's own."""
        step = queue.step_requirement(call.step)
        own = call.own_requirement
        if step is None:
            call.requirement = own
        elif own is None:
            call.requirement = step
        else:
            call.requirement = step.both(own)

    def arm(self, call: Call, queue: QueueRuntime) -> None:
        """Set the call's deadlines in this queue: relaxation, overflow, max wait, announcements."""
        timers, config, token = self.floor.timers, queue.config, call.visit
        steps = queue.compiled.steps
        if call.step + 1 < len(steps):
            timers.set(call.enqueued_at + steps[call.step + 1][0], self._on_relax, call, token)
        if call.is_callback:
            if call.not_before > self.floor.now:
                timers.set(call.not_before, self.callbacks.on_callback_retry, call, token)
            return
        if config.overflow_after_seconds is not None:
            due = call.enqueued_at + config.overflow_after_seconds
            timers.set(due, self.on_wait_deadline, call, token)
        if config.max_wait_seconds is not None:
            timers.set(
                call.enqueued_at + config.max_wait_seconds, self.on_wait_deadline, call, token
            )
        limit = config.max_wait_no_agents_seconds
        if limit is not None and queue.unstaffed_since is not None:
            due = max(call.enqueued_at, queue.unstaffed_since) + limit
            timers.set(due, self.on_wait_deadline, call, token)
        if config.announce_every_seconds is not None:
            timers.set(
                self.floor.now + config.announce_every_seconds, self._on_announce, call, token
            )

    def current(self, call: Call, token: int) -> QueueRuntime | None:
        """Return the call's queue if a call timer still concerns this stay in the queue."""
        if self.floor.calls.get(call.call_id) is not call or call.visit != token:
            return None
        if call.status in (CallStatus.CONNECTING, CallStatus.CONNECTED, CallStatus.DONE):
            return None
        return self.floor.queues.get(call.queue)

    def _on_relax(self, call: Call, token: int, out: list[Command]) -> None:
        """A requirement step is due: bring every call of the queue up to date, then offer them
        in line order, so a call ahead that relaxes at the same moment is served first."""
        queue = self.current(call, token)
        if queue is None:
            return
        steps = queue.compiled.steps
        call.step = queue.step_at(call.enqueued_at, self.floor.now)
        if call.step + 1 < len(steps):
            due = call.enqueued_at + steps[call.step + 1][0]
            self.floor.timers.set(due, self._on_relax, call, token)
        for other in queue.calls():
            step = queue.step_at(other.enqueued_at, self.floor.now)
            if step != other.step or other is call:
                other.step = step
                self.apply_step(other, queue)
        for other in queue.calls():
            if other.status is CallStatus.WAITING:
                self.offering.route(other, out, "relaxed" if other is call else "rebalance")

    def on_wait_deadline(self, call: Call, token: int, out: list[Command]) -> None:
        if self.current(call, token) is not None:
            self.leave_if_due(call, out)

    def _on_announce(self, call: Call, token: int, out: list[Command]) -> None:
        queue = self.current(call, token)
        if queue is None or call.is_callback:
            return
        position = queue.position(call)
        out.append(
            PlayAnnouncement(call.call_id, queue.name, position, queue.estimated_wait(position))
        )
        every = queue.config.announce_every_seconds
        if every is not None:
            self.floor.timers.set(self.floor.now + every, self._on_announce, call, token)

    def leave_if_due(self, call: Call, out: list[Command]) -> bool:
        """If a waiting caller is past max wait, overflow or the no-agent limit, send them on."""
        if call.is_callback or call.status is not CallStatus.WAITING:
            return False
        queue = self.floor.queues[call.queue]
        config = queue.config
        waited = self.floor.now - call.enqueued_at
        if config.max_wait_seconds is not None and waited >= config.max_wait_seconds:
            self._leave(call, queue, config.max_wait_destination, out, "max_wait")
            return True
        if config.overflow_after_seconds is not None and waited >= config.overflow_after_seconds:
            self._leave(call, queue, config.overflow_destination, out, "overflow")
            return True
        limit = config.max_wait_no_agents_seconds
        if limit is not None and queue.unstaffed_since is not None:
            since = max(call.enqueued_at, queue.unstaffed_since)
            if self.floor.now - since >= limit:
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
        now = self.floor.now
        wait = now - call.enqueued_at
        freed = self.answers.cancel_offers(call, out, why)
        queue.remove(call)
        queue.service_level.record(now, wait, answered=False)
        target = self._resolve(destination, queue)
        label = target.target if target.kind == "queue" else str(target)
        self.floor.emit(
            out,
            CallOverflowed(queue=queue.name, to_queue=label, wait_seconds=max(wait, 0.0)),
            call.call_id,
        )
        self.send(call, target, out, CallOutcome.OVERFLOWED, why)
        for agent in freed:
            self.offering.serve(agent, out)

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
        self.floor.emit(
            out,
            CallBlocked(queue=queue.name, reason=reason, routed_to=str(target)),
            call.call_id,
        )
        self.send(call, target, out, CallOutcome.BLOCKED, reason)

    def _resolve(self, destination: Destination | None, queue: QueueRuntime | None) -> Destination:
        """The given destination, else the queue's fallback, else the platform fallback."""
        if destination is not None:
            return destination
        if queue is not None and queue.config.fallback is not None:
            return queue.config.fallback
        return self.floor.fallback

    def send(
        self, call: Call, target: Destination, out: list[Command], outcome: CallOutcome, why: str
    ) -> None:
        """Move the call into another queue, or hand it to the dialplan and end it here."""
        if target.kind == "queue":
            queue = self.floor.queues.get(target.target)
            if queue is not None and call.hops < MAX_HOPS and target.target != call.queue:
                call.hops += 1
                self.enter(call, queue, out)
                return
            out.append(
                ReportProblem(
                    "bad_destination",
                    f"cannot send call to {target}: unknown queue, same queue or too many moves",
                    call_id=call.call_id,
                    queue=call.queue,
                )
            )
            target = (
                self.floor.fallback
                if self.floor.fallback.kind != "queue"
                else Destination("hangup")
            )
            if target.kind == "hangup" and not target.target:
                target = Destination("hangup", "NORMAL_CLEARING")
        out.append(TransferCall(call.call_id, target, why))
        cause = "BLIND_TRANSFER" if target.kind == "transfer" else target.target
        self.end(call, out, outcome, cause, "system")

    def end(
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
        self.floor.calls.pop(call.call_id, None)
        if call.offer is not None:
            self.floor.offers.pop(call.offer.offer_id, None)
        self.floor.emit(
            out,
            CallEnded(
                outcome=outcome,
                hangup_cause=cause,
                hangup_by=hangup_by,
                queue=call.queue,
                duration_seconds=max(self.floor.now - call.arrived_at, 0.0),
                talk_seconds=max(talk, 0.0),
                hold_seconds=call.hold_seconds
                + (0.0 if call.held_since is None else max(self.floor.now - call.held_since, 0.0)),
            ),
            call.call_id,
            call.agent.agent_id if call.agent is not None else None,
        )

    def abandon(
        self, call: Call, out: list[Command], cause: str, *, at: float | None = None
    ) -> None:
        """The caller hung up (at ``at``, default now) while waiting or while an agent rang."""
        queue = self.floor.queues[call.queue]
        wait = (self.floor.now if at is None else at) - call.enqueued_at
        position = queue.position(call)
        ringing = call.status in (CallStatus.RINGING, CallStatus.CONNECTING)
        freed = self.answers.cancel_offers(call, out, "caller_abandoned")
        queue.remove(call)
        queue.service_level.record(self.floor.now, wait, answered=False, abandoned=True)
        self.floor.emit(
            out,
            CallAbandoned(
                queue=queue.name,
                wait_seconds=max(wait, 0.0),
                position=position,
                while_ringing=ringing,
            ),
            call.call_id,
        )
        self.end(call, out, CallOutcome.ABANDONED, cause, "caller")
        for agent in freed:
            self.offering.serve(agent, out)
