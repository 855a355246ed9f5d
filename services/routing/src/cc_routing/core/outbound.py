"""Outbound hand-over: agents the dialer may take, taken for a campaign's call (so no queue
offers them one), handed back into wrap-up, and restored after a restart.
"""

from __future__ import annotations

from collections.abc import Collection

from cc_proto.events import AgentState
from cc_routing.core.commands import Command
from cc_routing.core.config import AgentConfig
from cc_routing.core.floor import RoutingError, Subject

OUTBOUND = "outbound:"
"""The reason of an agent on a dialer call starts so, then names the campaign."""


class Outbound(Subject):
    """Lend agents to the dialer and take them back."""

    def outbound_free(self, agent_ids: Collection[str], teams: Collection[str]) -> dict[str, str]:
        """Agents (by id or team) who could take an outbound call now: id -> contact.

        The same test as for an inbound offer (available and past any no-answer delay), so an
        agent serving queues and a campaign is offered work by one of them at a time.
        """
        return {
            agent.agent_id: agent.config.contact
            for agent in self.floor.agents.values()
            if (agent.agent_id in agent_ids or agent.config.team in teams)
            and agent.offerable(self.floor.now)
        }

    def take_for_outbound(self, agent_id: str, campaign: str, now: float) -> list[Command]:
        """The dialer connects a customer to this agent: on a call, so no queue offers them one.

        Refused (:class:`RoutingError`) unless the agent is free this very moment: a queue may
        have offered them a call since the dialer last looked.
        """
        agent = self.states.agent(agent_id)
        out = self.floor.begin(now)
        if not agent.offerable(self.floor.now):
            raise RoutingError(f"agent {agent_id!r} is not free ({agent.state.value})")
        agent.last_call = None
        self.states.set_state(agent, AgentState.ON_CALL, out, reason=f"{OUTBOUND}{campaign}")
        return out

    def outbound_ended(
        self, agent_id: str, now: float, *, wrap_up_seconds: float | None = None
    ) -> list[Command]:
        """The agent's outbound call is over: wrap-up (the campaign's ``wrap_up_seconds``, or
        the agent's own, as after a queue call), then a pending break or available again; a
        pending logout at once."""
        agent = self.floor.agents.get(agent_id)
        if agent is None or not self.on_outbound(agent_id):
            return []
        out = self.floor.begin(now)
        wrap = agent.config.wrap_up_seconds if wrap_up_seconds is None else wrap_up_seconds
        self.states.wrap_up_or_next(agent, wrap, out, None)
        return out

    def restore_outbound(
        self,
        config: AgentConfig,
        *,
        reason: str,
        since: float,
        now: float,
        calls_answered: int = 0,
        talk_seconds: float = 0.0,
    ) -> list[Command]:
        """Rebuild an agent still on a dialer call after a restart (their leg is live on the
        switch), publishing nothing: on a call with the campaign's reason, so no queue offers
        them one until the dialer that adopts the call hands them back (:meth:`outbound_ended`).
        """
        if not reason.startswith(OUTBOUND):
            raise RoutingError(f"{reason!r} is not the reason of an outbound call")
        out = self.restore.restore_agent(
            config,
            state=AgentState.AVAILABLE,
            since=since,
            now=now,
            calls_answered=calls_answered,
            talk_seconds=talk_seconds,
        )
        agent = self.floor.agents[config.agent_id]
        self.states.quiet_state(agent, AgentState.ON_CALL, since, reason)
        agent.last_call = None
        self.states.reindex(agent)
        return out

    def outbound_agents(self) -> list[str]:
        """Agents on a call the dialer gave them."""
        return [agent_id for agent_id in self.floor.agents if self.on_outbound(agent_id)]

    def on_outbound(self, agent_id: str) -> bool:
        """Whether the agent is on a call the dialer gave them."""
        agent = self.floor.agents.get(agent_id)
        return (
            agent is not None
            and agent.state is AgentState.ON_CALL
            and agent.call is None
            and (agent.reason or "").startswith(OUTBOUND)
        )
