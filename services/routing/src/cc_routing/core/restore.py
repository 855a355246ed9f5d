"""A restart: agents and calls rebuilt from the database and the switch's channels without
publishing (waiting, being bridged, or talking), then offered again; and an instance stopping
(no new offers, rings cancelled so the next instance offers the calls again).
"""

from __future__ import annotations

from cc_proto.events import AgentState, CallOutcome
from cc_routing.core.calls import Call, CallNotes, CallStatus, Offer, ParkedCall
from cc_routing.core.commands import Command
from cc_routing.core.config import AgentConfig
from cc_routing.core.floor import RoutingError, Subject
from cc_routing.core.queues import QueueRuntime


class Restore(Subject):
    """Rebuild the floor after a restart; hold it still while stopping."""

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
        out = self.roster.upsert_agent(config, now)
        agent = self.floor.agents[config.agent_id]
        if state is AgentState.RESERVED:
            state = AgentState.AVAILABLE
        self.states.quiet_state(agent, state, since, reason)
        agent.calls_answered = calls_answered
        agent.talk_seconds = talk_seconds
        agent.idle_since = since if idle_since is None else idle_since
        if state is AgentState.WRAP_UP:
            agent.wrap_until = wrap_until if wrap_until is not None else self.floor.now
            agent.token += 1
            self.floor.timers.set(agent.wrap_until, self.states.on_wrap_up_end, agent, agent.token)
        self.states.reindex(agent)
        return out

    def restore_call(
        self,
        parked: ParkedCall,
        now: float,
        *,
        answered_by: str | None = None,
        agent_leg: str | None = None,
        answered_at: float | None = None,
        bridging_to: str | None = None,
        placed_by: str | None = None,
        notes: CallNotes | None = None,
    ) -> list[Command]:
        """Rebuild a call from its channel variables after a restart, publishing nothing.

        A waiting call keeps its place (ordered by ``cc_enqueued_at``); a bridged call puts its
        agent back on the call; a call whose bridge to ``bridging_to`` (agent id, leg
        ``agent_leg`` picked up at ``answered_at``) was asked for but not yet confirmed waits
        for that confirmation (:meth:`call_bridged`) with its agent reserved. Call
        :meth:`resume` once everything is restored.

        A click-to-call ``placed_by`` an agent (to ``parked.dialed_number``) comes back on its
        agent if it was answered; one still ringing the agent or dialling the customer at the
        stop is settled: it ends ``failed`` (its one ``call.ended``, published here), since its
        rings and dial were lost with the instance; the legs left on the switch are hung up.
        ``notes`` (from the call ledger) give back its hold and a hang-up cause a CRM asked for.
        """
        out = self.floor.begin(now)
        if parked.call_id in self.floor.calls:
            return out
        if placed_by is not None:
            self._restore_placed(parked, placed_by, agent_leg, answered_at, answered_by, out, notes)
            return out
        queue = self.floor.queues.get(parked.queue)
        own = self.line.call_requirement(parked, out)
        call = Call(parked, own, self.floor.now)
        if notes is not None:
            notes.apply(call)
        call.priority = self.line.priority(parked, out)
        call.enqueued_at = parked.enqueued_at if parked.enqueued_at is not None else self.floor.now
        call.arrived_at = call.enqueued_at
        if answered_by is not None:
            self._restore_connected(call, answered_by, agent_leg, answered_at)
            return out
        if bridging_to is not None and agent_leg is not None and queue is not None:
            self._restore_connecting(call, queue, bridging_to, agent_leg, answered_at)
            return out
        if queue is None:
            self.line.unknown_queue(call, out)
            return out
        self.line.place(call, queue)
        return out

    def _restore_placed(
        self,
        parked: ParkedCall,
        agent_id: str,
        agent_leg: str | None,
        answered_at: float | None,
        answered_by: str | None,
        out: list[Command],
        notes: CallNotes | None,
    ) -> None:
        """Put back an answered click-to-call on its agent; settle one that was not answered."""
        call = Call(parked, None, self.floor.now)
        if notes is not None:
            notes.apply(call)
        call.enqueued_at = call.arrived_at = (
            parked.enqueued_at if parked.enqueued_at is not None else self.floor.now
        )
        call.callback_number = parked.dialed_number
        call.placed = True
        call.direct_to = agent_id
        if answered_by is not None:
            self._restore_connected(call, answered_by, agent_leg, answered_at)
            return
        self.floor.calls[call.call_id] = call
        call.status = CallStatus.RINGING
        self.line.end(call, out, CallOutcome.FAILED, "ORIGINATOR_CANCEL", "system")

    def _restore_connected(
        self, call: Call, agent_id: str, agent_leg: str | None, answered_at: float | None
    ) -> None:
        agent = self.states.agent(agent_id)
        offer = Offer(agent_leg or self.floor.new_id(), call, agent, call.queue, self.floor.now)
        offer.active = False
        call.status = CallStatus.CONNECTED
        call.agent = agent
        call.offer = offer
        call.answered_at = answered_at if answered_at is not None else self.floor.now
        self.floor.calls[call.call_id] = call
        self.floor.offers[offer.offer_id] = offer
        self.states.quiet_state(agent, AgentState.ON_CALL, call.answered_at, None)
        agent.call = call
        self.states.reindex(agent)

    def _restore_connecting(
        self,
        call: Call,
        queue: QueueRuntime,
        agent_id: str,
        agent_leg: str,
        answered_at: float | None,
    ) -> None:
        """Put back a call whose agent picked up and whose bridge is not yet confirmed."""
        agent = self.states.agent(agent_id)
        self.line.place(call, queue)
        offer = Offer(agent_leg, call, agent, call.queue, answered_at or self.floor.now)
        offer.active = False
        offer.answered_at = answered_at
        call.offers[agent_leg] = offer
        call.offer = offer
        call.status = CallStatus.CONNECTING
        call.attempts += 1
        self.floor.offers[agent_leg] = offer
        agent.offer = offer
        self.states.quiet_state(agent, AgentState.RESERVED, answered_at or self.floor.now, None)
        self.states.reindex(agent)

    def hold_offers(self) -> None:
        """Offer nothing more (an instance stopping): agents stay as they are, unpublished.

        Rings and bridges already under way go on, so they can settle instead of being
        replaced by new ones while the instance waits for them.
        """
        self.floor.holding = True

    def stop_ringing(self, now: float) -> list[Command]:
        """Cancel every agent still ringing (an instance stopping, after :meth:`hold_offers`):
        each call keeps its place.

        A ring left behind would be answered with nobody listening; the next instance offers
        the calls again. Costs the agents nothing.
        """
        out = self.floor.begin(now)
        for call in list(self.floor.calls.values()):
            if call.status is not CallStatus.RINGING:
                continue
            self.answers.cancel_offers(call, out, "routing_stopped")
            if call.direct_to is not None:
                self.answers.direct_missed(call, "routing_stopped", out)
            else:
                call.status = CallStatus.WAITING
        return out

    def resume(self, now: float) -> list[Command]:
        """After a restore, offer every waiting call that an available agent fits."""
        out = self.floor.begin(now)
        for queue in self.floor.queues.values():
            self.roster.rebalance(queue, out)
        for agent in self.floor.agents.values():
            self.offering.serve(agent, out)
        return out
