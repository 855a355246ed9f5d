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
