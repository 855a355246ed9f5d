"""Offering: which agent a waiting call rings (the queue's strategy, the queue a freed agent
serves first, ring-all joining, ring-progressively's next agent), ringing them, and the routing
decisions kept for ``explain``.

Invariant kept after every public call: no waiting call has an offerable agent that meets its
requirement (except while ring-progressively is adding agents on its timer).
"""

from __future__ import annotations

from cc_proto.events import AgentState, CallAgentOffered
from cc_routing.core.agents import Agent
from cc_routing.core.calls import Call, CallStatus, Offer
from cc_routing.core.commands import Command, OfferCall
from cc_routing.core.config import Strategy
from cc_routing.core.explain import DecisionRecord, QueueChoice
from cc_routing.core.floor import Subject
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.strategies import pick_agents, rotation_start

_EXPLAIN_WHEN_NOBODY = frozenset({"arrival", "relaxed", "retry", "callback"})


class Offering(Subject):
    """Pick agents for waiting calls and ring them."""

    def offer(self, call: Call, agent: Agent, queue: QueueRuntime, out: list[Command]) -> None:
        """Reserve ``agent`` and ring them for ``call``."""
        now = self.floor.now
        config = queue.config
        offer_id = self.floor.new_id()
        call.attempts += 1
        offer = Offer(offer_id, call, agent, queue.name, now)
        call.offers[offer_id] = offer
        self.floor.offers[offer_id] = offer
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
        self.floor.emit(
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
        self.states.set_state(agent, AgentState.RESERVED, out, call_id=call.call_id)
        self.floor.timers.set(
            now + config.ring_timeout_seconds, self.answers.on_ring_timeout, offer, 0
        )

    def route(
        self,
        call: Call,
        out: list[Command],
        trigger: str,
        queue_choice: tuple[QueueChoice, ...] = (),
    ) -> bool:
        """Offer a waiting call to the agent(s) its queue's strategy picks; False if nobody fits."""
        if (
            call.status is not CallStatus.WAITING
            or call.not_before > self.floor.now
            or self.floor.holding
        ):
            return False
        queue = self.floor.queues[call.queue]
        strategy = queue.config.strategy
        start = None
        if strategy is Strategy.ROUND_ROBIN:
            start = queue.rr_last
        elif strategy is Strategy.TOP_DOWN:
            start = call.last_tried
        chosen = pick_agents(
            strategy, queue.index, call.requirement, start_after=start, rng=self.floor.rng
        )
        if self.floor.explain and (chosen or trigger in _EXPLAIN_WHEN_NOBODY):
            self.floor.log.add(self._decision(queue, call, chosen, trigger, start, queue_choice))
        if not chosen:
            return False
        for agent in chosen:
            self.offer(call, agent, queue, out)
        if strategy is Strategy.RING_PROGRESSIVELY:
            call.ring_round += 1
            due = self.floor.now + queue.config.ring_progressively_delay_seconds
            self.floor.timers.set(due, self._on_ring_more, call, call.ring_round)
        return True

    def serve(self, agent: Agent, out: list[Command]) -> None:
        """Give a freshly offerable agent the call it should take, across all its queues."""
        now = self.floor.now
        while agent.offerable(now):
            choices: list[tuple[QueueRuntime, Call]] = []
            for name in agent.config.tiers:
                queue = self.floor.queues.get(name)
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
            if not self.route(call, out, "agent_ready", queue_choice):
                return

    def _choose_queue(
        self, choices: list[tuple[QueueRuntime, Call]]
    ) -> tuple[Call, tuple[QueueChoice, ...]]:
        """Pick the queue closest to missing its service-level target, then the oldest call."""
        now = self.floor.now
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
        if self.floor.holding:
            return
        skills = agent.config.skills
        for name in agent.config.tiers:
            queue = self.floor.queues.get(name)
            if queue is None or queue.config.strategy is not Strategy.RING_ALL:
                continue
            for call in queue.calls():
                if call.status is not CallStatus.RINGING:
                    continue
                if call.requirement is None or call.requirement.matches(skills):
                    self.offer(call, agent, queue, out)
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
            at=self.floor.now,
            call_id=call.call_id,
            queue=queue.name,
            trigger=trigger if start is None else f"{trigger}; rotation after seat {start}",
            strategy=queue.config.strategy,
            requirement=call.requirement,
            step=call.step,
            chosen=tuple(agent.agent_id for agent in chosen),
            keys=queue.index.keys.copy(),
            members=queue.board.rows.copy(),
            queue_choice=queue_choice,
        )

    def _on_ring_more(self, call: Call, token: int, out: list[Command]) -> None:
        """ring-progressively: add the next agent in order, keep the others ringing."""
        if self.floor.calls.get(call.call_id) is not call or call.ring_round != token:
            return
        if call.status is not CallStatus.RINGING or self.floor.holding:
            return
        queue = self.floor.queues[call.queue]
        chosen = pick_agents(
            Strategy.TOP_DOWN,
            queue.index,
            call.requirement,
            start_after=call.last_tried,
            rng=self.floor.rng,
        )
        if chosen:
            if self.floor.explain:
                self.floor.log.add(self._decision(queue, call, chosen, "ring_more", None, ()))
            self.offer(call, chosen[0], queue, out)
        due = self.floor.now + queue.config.ring_progressively_delay_seconds
        self.floor.timers.set(due, self._on_ring_more, call, token)
