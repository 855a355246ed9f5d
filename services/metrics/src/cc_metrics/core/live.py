"""Live queue state for the gauges: who is waiting where, since when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class QueueLive:
    """The calls waiting in one queue and its latest estimated wait."""

    waiting: dict[str, datetime] = field(default_factory=dict)
    estimated_wait_seconds: float | None = None

    @property
    def oldest(self) -> datetime | None:
        """Return when the longest-waiting call entered, or None when nobody waits."""
        return min(self.waiting.values()) if self.waiting else None


@dataclass(slots=True)
class LiveQueues:
    """Every queue's live state; queues named in settings exist from the start (shown as 0)."""

    queues: dict[str, QueueLive] = field(default_factory=dict)

    def queue(self, name: str) -> QueueLive:
        """Return the live state of ``name``, creating it on first mention."""
        live = self.queues.get(name)
        if live is None:
            live = self.queues[name] = QueueLive()
        return live

    def enter(self, name: str, call_id: str, at: datetime) -> None:
        """Record a call starting to wait."""
        self.queue(name).waiting[call_id] = at

    def leave(self, call_id: str, name: str | None = None) -> None:
        """Forget a call that stopped waiting (in ``name``, or anywhere when unknown)."""
        targets = [self.queue(name)] if name is not None else list(self.queues.values())
        for live in targets:
            live.waiting.pop(call_id, None)


def estimated_wait(live: QueueLive | None, *, available: int, staffed: int) -> float | None:
    """Return the wait a caller arriving now can expect, or None when nobody can say.

    Nobody waiting and an agent of the queue free: 0 (not the last estimate announced, which
    may be from the morning peak). Nobody serving the queue: None (no data). Otherwise the
    latest estimate routing announced.
    """
    waiting = live is not None and bool(live.waiting)
    if not waiting and available > 0:
        return 0.0
    if staffed == 0 or live is None:
        return None
    return live.estimated_wait_seconds
