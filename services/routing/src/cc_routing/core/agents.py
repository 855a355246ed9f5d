"""An agent as routing sees them: state, the call they hold, and the counters strategies sort by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cc_proto.events import AgentState
from cc_routing.core.config import AgentConfig

if TYPE_CHECKING:
    from cc_routing.core.calls import Call, Offer

STAFFED = frozenset(
    {AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP}
)
"""States in which an agent counts as working a queue (for no-agent rules and wait estimates)."""
BUSY = frozenset({AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})
"""States in which an agent is taken by a call (its ring, its conversation or its wrap-up)."""

# mod_callcenter's treatment of a failed offer, by FreeSWITCH hangup cause: which delay applies
# and whether it counts toward max-no-answer. Our own cancel (ORIGINATOR_CANCEL) is never held
# against the agent.
BUSY_CAUSES = frozenset({"USER_BUSY", "NORMAL_CIRCUIT_CONGESTION"})
REJECT_CAUSES = frozenset({"CALL_REJECTED"})
UNREGISTERED_CAUSES = frozenset({"USER_NOT_REGISTERED"})
NO_FAULT_CAUSES = frozenset({"ORIGINATOR_CANCEL", "LOSE_RACE"})
UNREGISTERED_DELAY_SECONDS = 5.0


class Agent:
    """Mutable runtime of one agent; only the core's subjects change it."""

    __slots__ = (
        "agent_id",
        "call",
        "calls_answered",
        "config",
        "hanging_up",
        "idle_since",
        "indexed",
        "last_call",
        "no_answer_count",
        "offer",
        "pending",
        "previous_idle_since",
        "ready_at",
        "reason",
        "since",
        "state",
        "talk_seconds",
        "token",
        "wrap_until",
    )

    def __init__(self, config: AgentConfig, now: float) -> None:
        self.agent_id = config.agent_id
        self.config = config
        self.state = AgentState.LOGGED_OUT
        self.since = now
        self.reason: str | None = None
        self.ready_at = 0.0
        self.idle_since = now
        self.previous_idle_since = now
        self.calls_answered = 0
        self.talk_seconds = 0.0
        self.no_answer_count = 0
        self.offer: Offer | None = None
        self.call: Call | None = None
        self.last_call: Call | None = None
        self.wrap_until = 0.0
        self.pending: tuple[AgentState, str | None] | None = None
        self.indexed = False
        self.token = 0
        self.hanging_up: str | None = None
        """A leg of theirs routing hung up whose end FreeSWITCH has not confirmed yet: their
        phone may still ring, so nothing else is offered until it is gone."""

    def offerable(self, now: float) -> bool:
        """Whether a call may be offered right now: available, past any no-answer delay, and no
        earlier leg still on their phone."""
        return (
            self.state is AgentState.AVAILABLE and self.ready_at <= now and self.hanging_up is None
        )

    def miss_penalty(self, cause: str) -> tuple[float, bool]:
        """Return (delay before the next offer, counts toward max-no-answer) for a failed offer."""
        config = self.config
        if cause in NO_FAULT_CAUSES:
            return 0.0, False
        if cause in BUSY_CAUSES:
            return config.busy_delay_seconds, False
        if cause in REJECT_CAUSES:
            return config.reject_delay_seconds, False
        if cause in UNREGISTERED_CAUSES:
            return UNREGISTERED_DELAY_SECONDS, False
        return config.no_answer_delay_seconds, True

    def __repr__(self) -> str:
        return f"Agent({self.agent_id!r}, {self.state.value})"


@dataclass(eq=False, slots=True)
class ClosingLeg:
    """An agent leg routing hung up, until FreeSWITCH confirms it is gone (see
    :attr:`Agent.hanging_up`)."""

    leg: str
    call_id: str
    agent: Agent
    since: float
