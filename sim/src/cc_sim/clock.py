"""Time for the simulator: a wall clock that can run faster than real time, and timers on it.

Every duration inside the simulator (ring time, playback length, talk time, originate_timeout,
heartbeat) is in *simulated* seconds. With ``compression=10`` a 30 s call lasts 3 real seconds
and its events carry timestamps 30 s apart, so CDRs and WAV files have the simulated lengths.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Stop the callback from running (no effect once it ran)."""


class Scheduler(Protocol):
    """Runs callbacks after simulated delays; what the switch engine needs from time."""

    def now_us(self) -> int:
        """Return simulated microseconds since the epoch."""

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``seconds`` of simulated time."""

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` as soon as possible, after the current step."""


class LoopScheduler:
    """Simulated time on the running asyncio loop, ``compression`` times faster than real."""

    def __init__(self, compression: float = 1.0, *, start_epoch: float | None = None) -> None:
        if not compression > 0:
            raise ValueError(f"time compression must be > 0, got {compression!r}")
        self.compression = compression
        self._start_wall = time.time() if start_epoch is None else start_epoch
        self._start_mono = time.monotonic()

    def now_us(self) -> int:
        """Return simulated microseconds since the epoch."""
        elapsed = (time.monotonic() - self._start_mono) * self.compression
        return int((self._start_wall + elapsed) * 1_000_000)

    def real_seconds(self, simulated: float) -> float:
        """Convert a simulated duration to the real time it takes."""
        return max(0.0, simulated) / self.compression

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``seconds`` of simulated time."""
        loop = asyncio.get_running_loop()
        return loop.call_later(self.real_seconds(seconds), callback)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the next loop iteration."""
        asyncio.get_running_loop().call_soon(callback)


@dataclass(order=True, slots=True)
class _Entry:
    due_us: int
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """Simulated time that only moves when told to: deterministic tests of the engine."""

    def __init__(self, start_us: int = 1_800_000_000_000_000) -> None:
        self._now = start_us
        self._queue: list[_Entry] = []
        self._order = itertools.count()

    def now_us(self) -> int:
        """Return the current simulated time."""
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Queue ``callback`` at now + ``seconds``."""
        entry = _Entry(self._now + int(max(0.0, seconds) * 1_000_000), next(self._order), callback)
        heapq.heappush(self._queue, entry)
        return entry

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` at the current time, after those already due."""
        self.call_later(0.0, callback)

    def run_until_idle(self, *, max_steps: int = 100_000) -> None:
        """Run every callback due now (including ones they schedule for now)."""
        self.advance(0.0, max_steps=max_steps)

    def advance(self, seconds: float, *, max_steps: int = 100_000) -> None:
        """Move time forward by ``seconds``, running every callback that falls due, in order."""
        target = self._now + int(seconds * 1_000_000)
        steps = 0
        while self._queue and self._queue[0].due_us <= target:
            entry = heapq.heappop(self._queue)
            if entry.cancelled:
                continue
            self._now = max(self._now, entry.due_us)
            entry.callback()
            steps += 1
            if steps > max_steps:
                raise RuntimeError("scheduler did not settle: a callback keeps rescheduling itself")
        self._now = max(self._now, target)

    @property
    def pending(self) -> int:
        """Return how many live callbacks are waiting."""
        return sum(1 for entry in self._queue if not entry.cancelled)
