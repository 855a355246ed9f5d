"""The roster: queues and agents as configured (created, changed, removed), with queue
membership, staffing and offerable indexes kept in step with every change.
"""

from __future__ import annotations

from cc_proto.events import AgentState
from cc_routing.core.agents import BUSY, Agent
from cc_routing.core.calls import CallStatus
from cc_routing.core.commands import Command
from cc_routing.core.config import (
    AgentConfig,
    CompiledQueue,
    ConfigError,
    QueueConfig,
    check_agent,
    compile_queue,
)
from cc_routing.core.floor import RoutingError, Subject
from cc_routing.core.queues import QueueRuntime
from cc_routing.core.strategies import order_key


class Roster(Subject):
    """Create, change and remove queues and agents."""

    def configure_queue(self, config: QueueConfig, now: float) -> list[Command]:
        """Create or change a queue; a bad config raises ConfigError and changes nothing.

        A queue that never had a valid config is remembered as broken: calls parked for it go to
        its fallback instead of being refused as unknown.
        """
        out = self.floor.begin(now)
        try:
            compiled = compile_queue(config, known_skills=self.floor.known_skills)
        except ConfigError as exc:
            if config.name not in self.floor.queues:
                self.floor.broken[config.name] = (config.fallback, str(exc))
            raise
        self.floor.broken.pop(config.name, None)
        queue = self.floor.queues.get(config.name)
        if queue is None:
            queue = QueueRuntime(compiled, self.floor.now)
            self.floor.queues[config.name] = queue
            for agent in self.floor.agents.values():
                if config.name in agent.config.tiers:
                    self._join(agent, queue)
        else:
            self._reconfigure(queue, compiled)
        self.rebalance(queue, out)
        return out

    def _reconfigure(self, queue: QueueRuntime, compiled: CompiledQueue) -> None:
        """Swap a queue's config in place: re-key its index, re-derive its calls' requirements."""
        queue.compiled = compiled
        for agent_id in list(queue.index.key_of):
            agent = queue.index.agents[agent_id]
            tier = agent.config.tiers[queue.name]
            queue.index.add(agent, order_key(compiled.config.strategy, tier, agent))
        for call in queue.calls():
            call.step = queue.step_at(call.enqueued_at, self.floor.now)
            self.line.apply_step(call, queue)
            call.visit += 1
            self.line.arm(call, queue)

    def _join(self, agent: Agent, queue: QueueRuntime) -> None:
        """Make an agent a member of a queue: membership, staffing and index."""
        queue.members[agent.agent_id] = agent
        agent.join_board(queue.board)
        if agent.state in (AgentState.AVAILABLE, *BUSY):
            queue.staffed += 1
            queue.unstaffed_since = None
        if agent.offerable(self.floor.now):
            tier = agent.config.tiers[queue.name]
            queue.index.add(agent, order_key(queue.config.strategy, tier, agent))

    def _part(self, agent: Agent, queue: QueueRuntime) -> None:
        """Remove an agent from a queue's membership."""
        queue.members.pop(agent.agent_id, None)
        agent.leave_board(queue.board)
        queue.index.remove(agent.agent_id)
        if agent.state in (AgentState.AVAILABLE, *BUSY):
            queue.staffed -= 1
            if queue.staffed == 0:
                queue.unstaffed_since = self.floor.now
                self.states.arm_no_agents(queue)

    def rebalance(self, queue: QueueRuntime, out: list[Command]) -> None:
        """Offer every waiting call of a queue that an offerable agent now fits."""
        for call in queue.calls():
            if not len(queue.index):
                return
            if call.status is CallStatus.WAITING:
                self.offering.route(call, out, "rebalance")

    def remove_queue(self, name: str, now: float) -> list[Command]:
        """Delete an empty queue (a queue with calls is refused: nothing may be lost)."""
        out = self.floor.begin(now)
        queue = self.floor.queues.get(name)
        if queue is None:
            self.floor.broken.pop(name, None)
            return out
        if len(queue):
            raise RoutingError(f"queue {name!r} still holds {len(queue)} calls")
        if any(call.queue == name for call in self.floor.calls.values()):
            raise RoutingError(f"queue {name!r} still has calls placed or transferred to agents")
        for agent in list(queue.members.values()):
            self._part(agent, queue)
        del self.floor.queues[name]
        return out

    def upsert_agent(self, config: AgentConfig, now: float) -> list[Command]:
        """Add an agent (logged out) or change one's contact, skills, tiers or timers."""
        check_agent(config)
        out = self.floor.begin(now)
        agent = self.floor.agents.get(config.agent_id)
        if agent is None:
            agent = Agent(config, self.floor.now)
            self.floor.agents[config.agent_id] = agent
            for name in config.tiers:
                if name in self.floor.queues:
                    self._join(agent, self.floor.queues[name])
            return out
        old = agent.config
        for name in old.tiers:
            if name in self.floor.queues:
                self._part(agent, self.floor.queues[name])
        agent.config = config
        agent.indexed = False
        for name in config.tiers:
            if name in self.floor.queues:
                self._join(agent, self.floor.queues[name])
        agent.indexed = agent.offerable(self.floor.now)
        self.offering.serve(agent, out)
        return out

    def remove_agent(self, agent_id: str, now: float) -> list[Command]:
        """Forget a logged-out agent."""
        out = self.floor.begin(now)
        agent = self.states.agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise RoutingError(f"agent {agent_id!r} must log out before being removed")
        for name in agent.config.tiers:
            if name in self.floor.queues:
                self._part(agent, self.floor.queues[name])
        del self.floor.agents[agent_id]
        return out
