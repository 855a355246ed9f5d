"""Agents as the metrics see them: current state for live gauges, closed state segments for time.

Time in a state is a *segment* ``[start, end)`` closed by the event that ends it. A segment is
identified by (agent, start), so two events that close the same stretch of time count it once.
``agent.logged_out`` carries no from-state, so a logout closes the state we last knew of
*provisionally*: a state change that closes the same start later (it arrived out of order, or
says exactly what the logout implied) replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cc_proto.events import AgentState


@dataclass(slots=True)
class AgentStatus:
    """The latest known state of one agent, by event time."""

    agent_id: str
    team: str | None = None
    state: AgentState = AgentState.LOGGED_OUT
    since: datetime | None = None
    reason: str | None = None
    queues: tuple[str, ...] = ()
    updated_at: datetime | None = None
    login_at: datetime | None = None
    logout_at: datetime | None = None
    last_call_id: str | None = None
    last_call_at: datetime | None = None

    @property
    def logged_in(self) -> bool:
        """Return True while the agent is on shift (a later login than logout, or any state)."""
        if self.state is not AgentState.LOGGED_OUT:
            return True
        if self.login_at is None:
            return False
        return self.logout_at is None or self.login_at > self.logout_at

    def copy(self) -> AgentStatus:
        """Return an independent copy."""
        return replace(self)

    def is_newer(self, at: datetime) -> bool:
        """Return True when information from ``at`` is at least as recent as what we hold."""
        return self.updated_at is None or at >= self.updated_at

    def move_to(self, state: AgentState, at: datetime, reason: str | None) -> None:
        """Record that the agent entered ``state`` at ``at``."""
        self.state, self.since, self.reason, self.updated_at = state, at, reason, at


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed stretch of time one agent spent in one state."""

    agent_id: str
    team: str | None
    state: AgentState
    start: datetime
    end: datetime
    reason: str | None = None
    provisional: bool = False

    @property
    def seconds(self) -> float:
        """Return the segment's length."""
        return (self.end - self.start).total_seconds()

    @property
    def key(self) -> tuple[str, datetime]:
        """Return the identity that keeps a stretch of time from being counted twice."""
        return (self.agent_id, self.start)


def segment_start(
    status: AgentStatus | None, from_state: AgentState, since: datetime | None, at: datetime
) -> datetime | None:
    """Return when the state being left began: the event's word, else our own record of it."""
    if since is not None:
        return since if since <= at else None
    if status is None or status.since is None or status.state is not from_state:
        return None
    return status.since if status.since <= at else None
