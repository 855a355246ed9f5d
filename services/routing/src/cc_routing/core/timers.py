"""Deadlines the core must act on (ring timeouts, wrap-up ends, overflow...), in due order.

Cancelling is lazy: a timer carries the token of what it was set for, and the handler checks the
token still holds when it fires. The adapter asks :meth:`Timers.next_due` and wakes the core then.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from enum import IntEnum


class TimerKind(IntEnum):
    """What a deadline is for."""

    RING_TIMEOUT = 1
    WRAP_UP_END = 2
    AGENT_READY = 3
    RELAX = 4
    OVERFLOW = 5
    MAX_WAIT = 6
    NO_AGENTS = 7
    ANNOUNCE = 8
    RING_MORE = 9
    CALLBACK_RETRY = 10
    DIAL_TIMEOUT = 11


Entry = tuple[float, int, TimerKind, object, int]


class Timers:
    """A heap of (due, sequence, kind, subject, token); sequence keeps equal times in order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def set(self, due: float, kind: TimerKind, subject: object, token: int) -> None:
        """Arrange for ``subject`` to be looked at again at ``due``."""
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, kind, subject, token))

    def next_due(self) -> float | None:
        """Return the earliest deadline, if any (it may turn out to be cancelled)."""
        return self._heap[0][0] if self._heap else None

    def drop_stale(self, stale: Callable[[Entry], bool]) -> None:
        """Discard leading timers that ``stale`` says no longer matter (e.g. answered offers)."""
        heap = self._heap
        while heap and stale(heap[0]):
            heapq.heappop(heap)

    def pop_due(self, now: float) -> Entry | None:
        """Remove and return the earliest timer due at or before ``now``, else None."""
        heap = self._heap
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)
        return None
