"""Agent legs routing hung up, until FreeSWITCH confirms them gone: the agent's phone is busy
meanwhile (never rung for two callers at once); a leg not heard gone is hung up again, then
given up on with a reported problem.
"""

from __future__ import annotations

from cc_routing.core.agents import Agent, ClosingLeg
from cc_routing.core.commands import CancelOffer, Command, ReportProblem
from cc_routing.core.floor import Subject

LEG_CONFIRM_SECONDS = 2.0
"""How long a hung-up agent leg may go unconfirmed before it is hung up again (a hangup sent
before FreeSWITCH created the leg finds no channel, and the leg then rings)."""
LEG_CONFIRM_TRIES = 3
"""Hangups sent for one leg before the agent is given up on it (and a problem reported)."""


class Legs(Subject):
    """Hang up agent legs and wait for FreeSWITCH to confirm them gone."""

    def hang_up_leg(
        self, leg: str, call_id: str, agent: Agent, reason: str, out: list[Command]
    ) -> None:
        """Hang up an agent leg; the agent takes no other call until FreeSWITCH confirms it
        gone, so their phone never rings for two callers at once."""
        out.append(CancelOffer(leg, call_id, agent.agent_id, reason))
        self.expect_leg_end(leg, call_id, agent)

    def expect_leg_end(self, leg: str, call_id: str, agent: Agent) -> None:
        """The agent's leg is ending (hung up by us, or following its caller out of a bridge):
        the agent's phone is busy until its end is heard (hung up again if it is not)."""
        closing = ClosingLeg(leg, call_id, agent, self.floor.now)
        self.floor.closing[leg] = closing
        agent.hanging_up = leg
        self.states.reindex(agent)
        self.floor.timers.set(
            self.floor.now + LEG_CONFIRM_SECONDS, self._on_leg_unconfirmed, closing, 1
        )

    def leg_gone(self, leg: str, out: list[Command]) -> None:
        """FreeSWITCH confirmed a hung-up agent leg ended: the agent's phone is free again."""
        closing = self.floor.closing.pop(leg, None)
        if closing is None:
            return
        agent = closing.agent
        if agent.hanging_up == leg:
            agent.hanging_up = None
            self.states.reindex(agent)
            self.offering.serve(agent, out)

    def _on_leg_unconfirmed(self, closing: ClosingLeg, tries: int, out: list[Command]) -> None:
        """No end heard for a hung-up leg: hang it up again, and in the end give up on it."""
        if self.floor.closing.get(closing.leg) is not closing:
            return
        agent = closing.agent
        if tries < LEG_CONFIRM_TRIES:
            out.append(CancelOffer(closing.leg, closing.call_id, agent.agent_id, "unconfirmed"))
            due = self.floor.now + LEG_CONFIRM_SECONDS
            self.floor.timers.set(due, self._on_leg_unconfirmed, closing, tries + 1)
            return
        message = f"agent leg {closing.leg} of {agent.agent_id} was never confirmed gone"
        problem = ReportProblem(
            "agent_leg_unconfirmed", message, call_id=closing.call_id, agent_id=agent.agent_id
        )
        out.append(problem)
        self.leg_gone(closing.leg, out)

    def hang_up_left_over(self, leg: str, call_id: str, agent_id: str, now: float) -> list[Command]:
        """A ring from an instance that is gone is still on the agent's phone: hang it up, and
        offer the agent nothing until FreeSWITCH confirms it gone."""
        out = self.floor.begin(now)
        agent = self.floor.agents.get(agent_id)
        if agent is None:
            return [*out, CancelOffer(leg, call_id, agent_id, "left_over")]
        self.hang_up_leg(leg, call_id, agent, "left_over", out)
        return out

    def legs_hanging_up(self) -> list[tuple[str, float]]:
        """Return (leg, hung up at) for each agent leg routing hung up, not yet confirmed gone."""
        return [(leg, closing.since) for leg, closing in self.floor.closing.items()]
