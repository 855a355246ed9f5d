"""An agent as routing sees them: state, the call they hold, and the counters strategies sort by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar, overload

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
T = TypeVar("T")

MemberSnapshot = tuple[
    str, AgentState, "str | None", float, float, "Offer | None", "Call | None", Mapping[str, int]
]
"""What a routing decision keeps about one queue member for ``explain``: id, state, reason,
ready-at, wrap-up end, the offer and call they hold, their skills (rendered only when asked)."""


class Board:
    """One queue's members as a decision keeps them: each member's current snapshot, in
    membership order, in a plain list so that a decision copies it in one step."""

    __slots__ = ("_row_of", "rows")

    def __init__(self) -> None:
        self.rows: list[MemberSnapshot] = []
        self._row_of: dict[str, int] = {}

    def put(self, snapshot: MemberSnapshot) -> None:
        """Show a member's latest snapshot (a new member goes last, as in ``members``)."""
        row = self._row_of.get(snapshot[0])
        if row is None:
            self._row_of[snapshot[0]] = len(self.rows)
            self.rows.append(snapshot)
        else:
            self.rows[row] = snapshot

    def drop(self, agent_id: str) -> None:
        """Take a member off, keeping the others in order (rare: configuration changes)."""
        row = self._row_of.pop(agent_id, None)
        if row is not None:
            del self.rows[row]
            self._row_of = {snapshot[0]: n for n, snapshot in enumerate(self.rows)}

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._row_of


class Shown(Generic[T]):
    """A field of :class:`Agent` that explanations show: stored in the slot of the same name
    with a leading underscore; setting it refreshes the agent's snapshot on their boards."""

    __slots__ = ("_slot",)

    def __set_name__(self, owner: type[Agent], name: str) -> None:
        self._slot = getattr(owner, f"_{name}")

    @overload
    def __get__(self, agent: None, owner: type[Agent]) -> Shown[T]: ...
    @overload
    def __get__(self, agent: Agent, owner: type[Agent]) -> T: ...
    def __get__(self, agent: Agent | None, owner: type[Agent]) -> T | Shown[T]:
        if agent is None:
            return self
        return self._slot.__get__(agent, owner)  # type: ignore[no-any-return]

    def __set__(self, agent: Agent, value: T) -> None:
        self._slot.__set__(agent, value)
        agent._changed()


class Agent:
    """Mutable runtime of one agent; only the core's subjects change it."""

    __slots__ = (
        "_call",
        "_config",
        "_offer",
        "_ready_at",
        "_reason",
        "_state",
        "_wrap_until",
        "agent_id",
        "boards",
        "calls_answered",
        "hanging_up",
        "idle_since",
        "indexed",
        "last_call",
        "no_answer_count",
        "pending",
        "previous_idle_since",
        "since",
        "snapshot",
        "talk_seconds",
        "token",
    )

    def __init__(self, config: AgentConfig, now: float) -> None:
        self.agent_id = config.agent_id
        self._config = config
        self._state = AgentState.LOGGED_OUT
        self.since = now
        self._reason: str | None = None
        self._ready_at = 0.0
        self.idle_since = now
        self.previous_idle_since = now
        self.calls_answered = 0
        self.talk_seconds = 0.0
        self.no_answer_count = 0
        self._offer: Offer | None = None
        self._call: Call | None = None
        self.last_call: Call | None = None
        self._wrap_until = 0.0
        self.pending: tuple[AgentState, str | None] | None = None
        self.indexed = False
        self.token = 0
        self.hanging_up: str | None = None
        """A leg of theirs routing hung up whose end FreeSWITCH has not confirmed yet: their
        phone may still ring, so nothing else is offered until it is gone."""
        self.boards: list[Board] = []
        """The member boards of the queues they serve, kept current by :meth:`_changed`."""
        self.snapshot: MemberSnapshot = self._snap()

    # What a decision's explanation shows of an agent is kept as one ready snapshot, replaced
    # in every board whenever one of these fields is set: a decision then copies a queue's board
    # (its members' snapshots) instead of reading every member's fields each time.
    config: Shown[AgentConfig] = Shown()
    state: Shown[AgentState] = Shown()
    reason: Shown[str | None] = Shown()
    ready_at: Shown[float] = Shown()
    wrap_until: Shown[float] = Shown()
    offer: Shown[Offer | None] = Shown()
    call: Shown[Call | None] = Shown()

    def _snap(self) -> MemberSnapshot:
        return (
            self.agent_id,
            self._state,
            self._reason,
            self._ready_at,
            self._wrap_until,
            self._offer,
            self._call,
            self._config.skills,
        )

    def _changed(self) -> None:
        snapshot = self.snapshot = self._snap()
        for board in self.boards:
            board.put(snapshot)

    def join_board(self, board: Board) -> None:
        """Show this agent on a queue's member board (the agent joined that queue)."""
        if self.agent_id not in board:
            self.boards.append(board)
        board.put(self.snapshot)

    def leave_board(self, board: Board) -> None:
        """Take this agent off a queue's member board (the agent left that queue)."""
        board.drop(self.agent_id)
        self.boards = [kept for kept in self.boards if kept is not board]

    def offerable(self, now: float) -> bool:
        """Whether a call may be offered right now: available, past any no-answer delay, and no
        earlier leg still on their phone."""
        return (
            self._state is AgentState.AVAILABLE
            and self._ready_at <= now
            and self.hanging_up is None
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
