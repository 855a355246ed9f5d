"""Agent states: what an agent does (log in and out, breaks, not-ready, wrap-up, dispositions)
and what every state change carries with it (the published change, the queues' offerable
indexes and staffing, requests left pending while busy, the end of a wrap-up).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cc_proto.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    CallDispositioned,
)
from cc_routing.core.agents import BUSY, STAFFED, Agent
from cc_routing.core.calls import CallStatus
from cc_routing.core.commands import Command
from cc_routing.core.floor import RoutingError, Subject
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.strategies import order_key

_AWAY = frozenset({AgentState.BREAK, AgentState.NOT_READY})


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class AgentStates(Subject):
    """Move agents between states, on their request or as their calls go."""

    def set_state(
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
        now = self.floor.now
        old = agent.state
        self.floor.emit(
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
        self.reindex(agent)

    def reindex(self, agent: Agent) -> None:
        """Put the agent in (or take them out of) the offerable index of each of their queues."""
        queues = self.floor.queues
        if agent.offerable(self.floor.now):
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
            queue = self.floor.queues.get(name)
            if queue is None:
                continue
            queue.staffed += delta
            if queue.staffed == 0:
                queue.unstaffed_since = self.floor.now
                self.arm_no_agents(queue)
            elif delta > 0 and queue.staffed == 1:
                queue.unstaffed_since = None

    def arm_no_agents(self, queue: QueueRuntime) -> None:
        limit = queue.config.max_wait_no_agents_seconds
        if limit is None or queue.unstaffed_since is None:
            return
        for call in queue.calls():
            if not call.is_callback:
                due = max(call.enqueued_at, queue.unstaffed_since) + limit
                self.floor.timers.set(due, self.line.on_wait_deadline, call, call.visit)

    def release(
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
            self.set_state(
                agent, AgentState.NOT_READY, out, call_id=call_id, reason="max_no_answer"
            )
            return
        agent.ready_at = self.floor.now + delay
        previous = agent.previous_idle_since if no_fault else None
        self.set_state(agent, AgentState.AVAILABLE, out, call_id=call_id, idle_since=previous)
        if delay > 0:
            agent.token += 1
            self.floor.timers.set(agent.ready_at, self._on_agent_ready, agent, agent.token)

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
            self.set_state(agent, state, out, call_id=call_id, reason=reason)

    def _log_out(
        self, agent: Agent, out: list[Command], reason: str | None, call_id: str | None = None
    ) -> None:
        self.set_state(agent, AgentState.LOGGED_OUT, out, call_id=call_id, reason=reason)
        self.floor.emit(
            out, AgentLoggedOut(reason=reason, team=agent.config.team), agent_id=agent.agent_id
        )

    def _after_work(self, agent: Agent, out: list[Command]) -> None:
        """End of the conversation or its wrap-up: a pending request, or available again."""
        call_id = agent.last_call.call_id if agent.last_call is not None else None
        if agent.pending is not None:
            self._apply_pending(agent, out, call_id)
        else:
            self.set_state(agent, AgentState.AVAILABLE, out, call_id=call_id)
        self.offering.serve(agent, out)

    def on_wrap_up_end(self, agent: Agent, token: int, out: list[Command]) -> None:
        if agent.state is AgentState.WRAP_UP and agent.token == token:
            self._after_work(agent, out)

    def _on_agent_ready(self, agent: Agent, token: int, out: list[Command]) -> None:
        if agent.token == token and agent.state is AgentState.AVAILABLE:
            self.reindex(agent)
            self.offering.serve(agent, out)

    def agent(self, agent_id: str) -> Agent:
        agent = self.floor.agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id!r}")
        return agent

    def _check_reason(self, state: AgentState, reason: str | None) -> None:
        allowed = (
            self.floor.break_reasons if state is AgentState.BREAK else self.floor.not_ready_reasons
        )
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
        agent = self.agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is already logged in ({agent.state.value})")
        if state not in (AgentState.AVAILABLE, *_AWAY):
            raise RoutingError(f"an agent logs in available, on break or not ready, not {state}")
        if state in _AWAY:
            self._check_reason(state, reason)
        out = self.floor.begin(now)
        config = agent.config
        agent.calls_answered = 0
        agent.talk_seconds = 0.0
        agent.no_answer_count = 0
        agent.ready_at = 0.0
        agent.pending = None
        self.floor.emit(
            out,
            AgentLoggedIn(
                queues=sorted(config.tiers),
                skills=dict(config.skills),
                team=config.team,
                contact=config.contact,
            ),
            agent_id=agent_id,
        )
        self.set_state(agent, state, out, reason=reason if state in _AWAY else None)
        self.offering.serve(agent, out)
        return out

    def logout(self, agent_id: str, now: float, *, reason: str | None = None) -> list[Command]:
        """End a shift; on a call it takes effect when the call ends (no wrap-up)."""
        agent = self.agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is not logged in")
        out = self.floor.begin(now)
        if agent.state is AgentState.ON_CALL or self._connecting(agent):
            agent.pending = (AgentState.LOGGED_OUT, reason)
            return out
        if agent.state is AgentState.RESERVED:
            self.answers.withdraw_offer(agent, out, "agent_logged_out")
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

    def set_break(self, agent_id: str, reason: str, now: float) -> list[Command]:
        """Put an agent on break (after the current call and wrap-up, if busy)."""
        return self._go_away(agent_id, AgentState.BREAK, reason, now)

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> list[Command]:
        """Make an agent not ready (after the current call and wrap-up, if busy)."""
        return self._go_away(agent_id, AgentState.NOT_READY, reason, now)

    def _go_away(self, agent_id: str, state: AgentState, reason: str, now: float) -> list[Command]:
        agent = self.agent(agent_id)
        self._check_reason(state, reason)
        if agent.state is AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is not logged in")
        out = self.floor.begin(now)
        if agent.state in BUSY:
            agent.pending = (state, reason)
            return out
        self.set_state(agent, state, out, reason=reason)
        return out

    def set_available(self, agent_id: str, now: float) -> list[Command]:
        """Make an agent ready: from a break or not-ready, or ending wrap-up early."""
        agent = self.agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} is not logged in; log in first")
        out = self.floor.begin(now)
        agent.pending = None
        if agent.state in _AWAY:
            agent.no_answer_count = 0
            agent.ready_at = 0.0
            self.set_state(agent, AgentState.AVAILABLE, out)
            self.offering.serve(agent, out)
        elif agent.state is AgentState.WRAP_UP:
            agent.token += 1
            self._after_work(agent, out)
        return out

    def end_wrap_up(self, agent_id: str, now: float) -> list[Command]:
        """Finish wrap-up before its timer (what the agent's 'ready' button does)."""
        agent = self.agent(agent_id)
        if agent.state is not AgentState.WRAP_UP:
            raise RoutingError(f"agent {agent_id!r} is not in wrap-up ({agent.state.value})")
        out = self.floor.begin(now)
        if agent.state is AgentState.WRAP_UP:
            agent.token += 1
            self._after_work(agent, out)
        return out

    def extend_wrap_up(self, agent_id: str, seconds: float, now: float) -> list[Command]:
        """Give an agent ``seconds`` more wrap-up than the timer had left."""
        agent = self.agent(agent_id)
        if not seconds > 0:
            raise RoutingError("a wrap-up extension must be a positive number of seconds")
        if agent.state is not AgentState.WRAP_UP:
            raise RoutingError(f"agent {agent_id!r} is not in wrap-up ({agent.state.value})")
        out = self.floor.begin(now)
        if agent.state is AgentState.WRAP_UP:
            agent.wrap_until = max(agent.wrap_until, self.floor.now) + seconds
            agent.token += 1
            self.floor.timers.set(agent.wrap_until, self.on_wrap_up_end, agent, agent.token)
        return out

    def dispose_call(
        self, agent_id: str, code: str, now: float, *, resolved: bool | None = None
    ) -> list[Command]:
        """Record the agent's disposition (reason code) for the call they are on or wrapping."""
        agent = self.agent(agent_id)
        call = agent.call or agent.last_call
        if call is None or agent.state not in (AgentState.ON_CALL, AgentState.WRAP_UP):
            raise RoutingError(f"agent {agent_id!r} has no call to disposition")
        queue = self.floor.queues.get(call.queue)
        if not code or not code.strip() or len(code) > 200:
            raise RoutingError("a disposition code must be 1-200 characters")
        codes = queue.config.disposition_codes if queue is not None else None
        if codes is not None and code not in codes:
            raise RoutingError(f"disposition {code!r} is not one of {sorted(codes)}")
        out = self.floor.begin(now)
        self.floor.emit(
            out,
            CallDispositioned(code=code, resolved=resolved, queue=call.queue),
            call.call_id,
            agent_id,
        )
        return out

    def wrap_up_or_next(
        self, agent: Agent, wrap: float, out: list[Command], call_id: str | None
    ) -> None:
        """After a conversation: a pending logout at once, else ``wrap`` seconds of wrap-up (its
        timer then does what is next), else what is next now."""
        if agent.pending is not None and agent.pending[0] is AgentState.LOGGED_OUT:
            self._apply_pending(agent, out, call_id)
        elif wrap > 0:
            agent.wrap_until = self.floor.now + wrap
            agent.token += 1
            self.set_state(agent, AgentState.WRAP_UP, out, call_id=call_id)
            self.floor.timers.set(agent.wrap_until, self.on_wrap_up_end, agent, agent.token)
        else:
            self._after_work(agent, out)

    def quiet_state(
        self, agent: Agent, state: AgentState, since: float, reason: str | None
    ) -> None:
        """Set a state without publishing (restoring what was already published)."""
        was = agent.state in (AgentState.AVAILABLE, *BUSY)
        is_ = state in (AgentState.AVAILABLE, *BUSY)
        agent.state = state
        agent.since = since
        agent.reason = reason
        if was != is_:
            self._staffing_changed(agent, 1 if is_ else -1)
