"""Deadlines the core must act on (ring timeouts, wrap-up ends, overflow...), in due order.

A timer is a handler, the subject it looks at (an offer, an agent or a call) and a token; the
type checker holds the handler and its subject together, so a ring timeout can only be set on an
offer. Cancelling is lazy: the handler checks the token still holds when it fires. The adapter
asks :meth:`Timers.next_due` and wakes the core then.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

S = TypeVar("S")
Out = TypeVar("Out")

Handler = Callable[[S, int, Out], None]
"""What a due timer calls: ``handler(subject, token, out)``."""


@dataclass(slots=True)
class Timer:
    """One deadline: due at ``due``, the ``seq``-th set (the heap orders by both)."""

    due: float
    seq: int
    handler: Handler[Any, Any] = field(compare=False)
    subject: Any = field(compare=False)
    token: int = field(compare=False)

    def fire(self, out: Any) -> None:
        """Call the handler on its subject."""
        self.handler(self.subject, self.token, out)


class Timers:
    """A heap of timers; the sequence number keeps equal times in the order they were set.

    Entries are ``(due, seq, timer)`` tuples: the heap compares them natively, where a
    dataclass's generated ordering ran Python code on every comparison. ``seq`` is unique,
    so the timer itself is never compared.
    """

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def set(self, due: float, handler: Handler[S, Out], subject: S, token: int) -> None:
        """Arrange for ``handler`` to look at ``subject`` again at ``due``."""
        self._seq += 1
        seq = self._seq
        heapq.heappush(self._heap, (due, seq, Timer(due, seq, handler, subject, token)))

    def next_due(self) -> float | None:
        """Return the earliest deadline, if any (it may turn out to be cancelled)."""
        return self._heap[0][0] if self._heap else None

    def drop_stale(self, stale: Callable[[Timer], bool]) -> None:
        """Discard leading timers that ``stale`` says no longer matter (e.g. answered offers)."""
        heap = self._heap
        while heap and stale(heap[0][2]):
            heapq.heappop(heap)

    def pop_due(self, now: float) -> Timer | None:
        """Remove and return the earliest timer due at or before ``now``, else None."""
        heap = self._heap
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)[2]
        return None
