"""A recording's life: recording, paused stretches, finished, stored, flagged, deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a recording is in its life."""

    RECORDING = "recording"
    FINISHED = "finished"
    """The switch closed the file; it waits to be moved to storage."""
    STORED = "stored"
    FLAGGED = "flagged"
    """Moving it failed for a reason people must see (missing, empty, checksum); still retried."""
    FAILED = "failed"
    """Retries are exhausted; the row stays so the loss is never silent."""
    DELETED = "deleted"


class Transition(Exception):
    """The asked change does not fit the recording's state; the message says why."""


@dataclass(frozen=True, slots=True)
class Pause:
    """A masked stretch, in seconds from the start of the recording."""

    start: float
    end: float | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the stretch as stored in the recording's metadata."""
        return {"start": self.start, "end": self.end, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pause:
        """Read a stretch back from metadata."""
        return cls(float(data["start"]), _opt_float(data.get("end")), data.get("reason"))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def offset(started_at: datetime, at: datetime) -> float:
    """Return seconds from the recording's start, never negative."""
    return round(max((at - started_at).total_seconds(), 0.0), 3)


def pause(
    status: Status, pauses: list[Pause], started_at: datetime, at: datetime, reason: str | None
) -> list[Pause]:
    """Open a masked stretch; refuse when not recording or already paused."""
    if status is not Status.RECORDING:
        raise Transition(f"cannot pause a recording that is {status.value}")
    if pauses and pauses[-1].end is None:
        raise Transition("the recording is already paused")
    return [*pauses, Pause(offset(started_at, at), None, reason)]


def resume(status: Status, pauses: list[Pause], started_at: datetime, at: datetime) -> list[Pause]:
    """Close the open masked stretch; refuse when nothing is paused."""
    if status is not Status.RECORDING:
        raise Transition(f"cannot resume a recording that is {status.value}")
    if not pauses or pauses[-1].end is not None:
        raise Transition("the recording is not paused")
    last = pauses[-1]
    return [*pauses[:-1], Pause(last.start, max(offset(started_at, at), last.start), last.reason)]


def close_pauses(pauses: list[Pause], duration: float) -> list[Pause]:
    """End an open stretch at the end of the recording (the call ended while paused)."""
    if pauses and pauses[-1].end is None:
        last = pauses[-1]
        return [*pauses[:-1], Pause(last.start, max(duration, last.start), last.reason)]
    return pauses


def is_paused(pauses: list[Pause]) -> bool:
    """Return True while a masked stretch is open."""
    return bool(pauses) and pauses[-1].end is None


@dataclass(frozen=True, slots=True)
class Retry:
    """When to try a move again, or that the tries are used up."""

    attempts: int
    delay_seconds: float
    exhausted: bool


def next_retry(attempts: int, *, first: float, maximum: float, limit: int) -> Retry:
    """Back off exponentially after a failed move; ``limit`` failures exhaust it."""
    done = attempts + 1
    return Retry(done, min(maximum, first * 2 ** (done - 1)), done >= limit)
