"""A circuit breaker for the CRM data dip: after repeated failures, stop asking for a while.

Pure: the caller passes the time. Closed counts failures in a row; at the threshold it opens
and refuses until ``open_seconds`` pass; then one trial call is let through (half-open): its
success closes the circuit, its failure opens it again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CircuitBreaker:
    """Counts failures of one dependency."""

    failures_to_open: int = 5
    open_seconds: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False

    def allow(self, now: float) -> bool:
        """Return True if a call may go out now."""
        if self.opened_at is None:
            return True
        if now - self.opened_at < self.open_seconds or self.trial_running:
            return False
        self.trial_running = True
        return True

    def success(self) -> None:
        """A call succeeded: close the circuit."""
        self.failures, self.opened_at, self.trial_running = 0, None, False

    def failure(self, now: float) -> None:
        """A call failed (timeout, error): count it, open at the threshold."""
        self.failures += 1
        if self.trial_running or self.failures >= self.failures_to_open:
            self.opened_at = now
        self.trial_running = False

    @property
    def state(self) -> str:
        """Return closed, open or half_open (for logs and metrics)."""
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.trial_running else "open"
