"""A queue at run time: its calls in service order, its offerable agents, its service level."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterator

from cc_routing.core.agents import Agent, Board
from cc_routing.core.calls import Call, CallStatus
from cc_routing.core.config import CompiledQueue, QueueConfig
from cc_routing.core.expressions import Requirement
from cc_routing.core.strategies import AgentIndex

HANDLE_TIME_SMOOTHING = 0.05
"""Weight of the newest handle time in the running estimate used for wait estimates."""


class ServiceLevelWindow:
    """Calls that left the queue recently, to measure service level over a sliding window."""

    __slots__ = ("_ended", "_short", "_threshold", "_window", "answered_within", "counted")

    def __init__(self, threshold: float, window: float, short_abandon: float) -> None:
        self._threshold = threshold
        self._window = window
        self._short = short_abandon
        self._ended: deque[tuple[float, bool, bool]] = deque()
        self.counted = 0
        self.answered_within = 0

    def record(self, at: float, wait: float, *, answered: bool, abandoned: bool = False) -> None:
        """Count a call that left the queue after waiting ``wait`` seconds (short abandons not)."""
        counted = not abandoned or wait >= self._short
        within = answered and wait <= self._threshold
        self._ended.append((at, counted, within))
        self.counted += counted
        self.answered_within += within

    def level(self, now: float, late_waiting: int) -> float:
        """Return answered within T / (counted calls + callers already waiting beyond T)."""
        ended = self._ended
        horizon = now - self._window
        while ended and ended[0][0] < horizon:
            _, counted, within = ended.popleft()
            self.counted -= counted
            self.answered_within -= within
        total = self.counted + late_waiting
        return self.answered_within / total if total else 1.0


class QueueRuntime:
    """Mutable runtime of one queue; only the core's subjects change it."""

    __slots__ = (
        "_by_key",
        "_keys",
        "_wait_times",
        "board",
        "compiled",
        "handle_estimate",
        "index",
        "members",
        "name",
        "rr_last",
        "service_level",
        "staffed",
        "unstaffed_since",
    )

    def __init__(self, compiled: CompiledQueue, now: float) -> None:
        config = compiled.config
        self.name = config.name
        self.compiled = compiled
        self._keys: list[tuple[int, float, int]] = []
        self._by_key: dict[tuple[int, float, int], Call] = {}
        self._wait_times: list[float] = []
        self.index = AgentIndex()
        self.members: dict[str, Agent] = {}
        self.board = Board()
        """Each member's :attr:`Agent.snapshot`, in ``members`` order: what a decision keeps."""
        self.staffed = 0
        self.unstaffed_since: float | None = now
        self.rr_last: tuple[int, float] | None = None
        self.handle_estimate = config.expected_handle_seconds
        self.service_level = ServiceLevelWindow(
            config.service_level_threshold_seconds,
            config.service_level_window_seconds,
            config.short_abandon_seconds,
        )

    @property
    def config(self) -> QueueConfig:
        return self.compiled.config

    def __len__(self) -> int:
        return len(self._keys)

    # --- calls in service order: priority (higher first), then enqueue time, then arrival order

    def add(self, call: Call) -> None:
        """Place a call by its sort key; a callback reuses its caller's key and keeps the place."""
        insort(self._keys, call.sort_key)
        self._by_key[call.sort_key] = call
        if not call.is_callback:
            insort(self._wait_times, call.enqueued_at)

    def remove(self, call: Call) -> None:
        """Take a call out (answered, abandoned, moved, turned into a callback)."""
        if self._by_key.get(call.sort_key) is not call:
            return
        del self._keys[bisect_left(self._keys, call.sort_key)]
        del self._by_key[call.sort_key]
        if not call.is_callback:
            del self._wait_times[bisect_left(self._wait_times, call.enqueued_at)]

    def replace(self, old: Call, new: Call) -> None:
        """Swap a caller for their callback in the same place."""
        self.remove(old)
        self.add(new)

    def position(self, call: Call) -> int:
        """Return the 1-based place of the call among everything in this queue."""
        return bisect_left(self._keys, call.sort_key) + 1

    def calls(self) -> Iterator[Call]:
        """Yield calls in service order (a snapshot: safe to change the queue meanwhile)."""
        by_key = self._by_key
        for key in list(self._keys):
            call = by_key.get(key)
            if call is not None:
                yield call

    def head_for(self, agent: Agent, now: float) -> Call | None:
        """Return the first waiting call in service order that ``agent`` may take, if any."""
        skills = agent.config.skills
        by_key = self._by_key
        for key in self._keys:
            call = by_key[key]
            if call.status is not CallStatus.WAITING or call.not_before > now:
                continue
            requirement = call.requirement
            if requirement is None or requirement.matches(skills):
                return call
        return None

    def late_waiting(self, now: float) -> int:
        """Count callers on the line who have already waited beyond the service-level threshold."""
        threshold = self.config.service_level_threshold_seconds
        return bisect_right(self._wait_times, now - threshold)

    def service_level_now(self, now: float) -> float:
        """Return the windowed service level, counting late waiting callers as misses."""
        return self.service_level.level(now, self.late_waiting(now))

    def margin(self, now: float) -> float:
        """Return how far the queue is above its service-level target (negative: missing it)."""
        return self.service_level_now(now) - self.config.service_level_target

    def oldest_enqueued_at(self) -> float | None:
        """Return when the longest-waiting caller on the line entered, if any."""
        return self._wait_times[0] if self._wait_times else None

    # --- estimates

    def record_handle_time(self, seconds: float) -> None:
        """Fold one handle time (talk + wrap-up) into the running estimate."""
        self.handle_estimate += HANDLE_TIME_SMOOTHING * (seconds - self.handle_estimate)

    def estimated_wait(self, position: int) -> float | None:
        """Expected wait for place ``position``: it needs that many departures from the
        staffed agents, each freeing up at rate 1/handle time (the M/M/c view); None if unstaffed.
        """
        if self.staffed <= 0:
            return None
        return position * self.handle_estimate / self.staffed

    def step_requirement(self, step: int) -> Requirement | None:
        """Return the queue's requirement at relaxation step ``step``."""
        return self.compiled.steps[step][1]

    def step_at(self, enqueued_at: float, now: float) -> int:
        """Return the relaxation step in force at ``now`` for a call that entered at
        ``enqueued_at`` (computed as the timers are: ``enqueued_at + after <= now``)."""
        step = 0
        for index, (after, _) in enumerate(self.compiled.steps):
            if enqueued_at + after <= now:
                step = index
        return step
