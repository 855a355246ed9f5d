"""Views: read-only answers about the floor for the API, announcements, reconciliation and
tests (a call, a queue's live figures, an agent, routing decisions, the legs routing believes
exist). Nothing here changes state.
"""

from __future__ import annotations

from dataclasses import dataclass

from cc_proto.events import AgentState
from cc_routing.core.calls import CallStatus
from cc_routing.core.explain import Decision
from cc_routing.core.floor import RoutingError, Subject


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
    held_since: float | None = None
    """When the agent put the caller on hold (epoch seconds); None while not on hold."""
    hangup_requested: str | None = None
    """The cause a CRM asked to hang up with, until the switch confirms the hangup."""


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
    service_level_threshold_seconds: float
    """T of "answered within T seconds": the service level's threshold."""


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


class Views(Subject):
    """Answer questions about calls, queues, agents and legs."""

    def call_view(self, call_id: str, now: float | None = None) -> CallView | None:
        """Return where a call stands (position and estimated wait kept current), or None."""
        at = self.floor.now if now is None else max(now, self.floor.now)
        call = self.floor.calls.get(call_id)
        if call is None:
            forwarded = self.floor.callback_of.get(call_id)
            call = self.floor.calls.get(forwarded) if forwarded is not None else None
        if call is None:
            return None
        queue = self.floor.queues.get(call.queue)
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
            held_since=call.held_since,
            hangup_requested=call.ended_by_request,
        )

    def queue_status(self, name: str, now: float | None = None) -> QueueStatus:
        """Return a queue's live figures."""
        queue = self.floor.queues.get(name)
        if queue is None:
            raise RoutingError(f"unknown queue {name!r}")
        at = self.floor.now if now is None else max(now, self.floor.now)
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
            service_level_threshold_seconds=queue.config.service_level_threshold_seconds,
        )

    def agent_view(self, agent_id: str) -> AgentView:
        """Return an agent's live state."""
        agent = self.states.agent(agent_id)
        call = agent.call or (agent.offer.call if agent.offer is not None else None)
        return AgentView(
            agent_id=agent_id,
            state=agent.state.value,
            since=agent.since,
            reason=agent.reason,
            offerable=agent.offerable(self.floor.now),
            call_id=call.call_id if call is not None else None,
            pending=agent.pending[0].value if agent.pending is not None else None,
            calls_answered=agent.calls_answered,
            talk_seconds=agent.talk_seconds,
            no_answer_count=agent.no_answer_count,
            wrap_until=agent.wrap_until if agent.state is AgentState.WRAP_UP else None,
        )

    def agent_queues(self, agent_id: str) -> frozenset[str]:
        """Return the queues the agent serves (their tiers), configured or not yet."""
        return frozenset(self.states.agent(agent_id).config.tiers)

    def explain(self, call_id: str) -> tuple[Decision, ...]:
        """Return the routing decisions kept for a call (recent calls only), oldest first."""
        return self.floor.log.for_call(call_id)

    def queue_names(self) -> list[str]:
        """Return the configured queues' names."""
        return sorted(self.floor.queues)

    def agent_ids(self) -> list[str]:
        """Return every known agent's id."""
        return sorted(self.floor.agents)

    def connecting_calls(self) -> list[str]:
        """Return the calls whose bridge to an answering agent is not yet confirmed."""
        return sorted(
            c.call_id for c in self.floor.calls.values() if c.status is CallStatus.CONNECTING
        )

    def holds_call(self, call_id: str) -> bool:
        """Whether routing holds the call (queued, ringing, talking, a callback)."""
        return call_id in self.floor.calls

    def active_calls(self) -> list[str]:
        """Return the ids of calls routing currently holds (queued, ringing, talking, callbacks)."""
        return sorted(self.floor.calls)

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
            for offer in self.floor.offers.values()
        ]

    def has_offer(self, offer_id: str) -> bool:
        """Whether ``offer_id`` is an agent leg this core rang (ringing, or connecting/talking)."""
        return offer_id in self.floor.offers

    def offer_answered_at(self, offer_id: str) -> float | None:
        """Return when an agent leg picked up (None: unknown, or not picked up)."""
        offer = self.floor.offers.get(offer_id)
        return offer.answered_at if offer is not None else None

    def ringing_offers(self) -> list[str]:
        """Return the agent legs ringing now (offered, not yet answered or missed)."""
        return sorted(o.offer_id for o in self.floor.offers.values() if o.active)
