"""Dial-time checks: do-not-call, and calling windows in the callee's local time."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cc_routing.dialer.campaigns import CallingWindow


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name; ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _open_at(moment: datetime, window: CallingWindow) -> bool:
    day = moment.isoweekday()
    days = window.days
    if day not in days and not (day == 7 and 0 in days):
        return False
    return window.start <= moment.time() < window.end


def within_window(now: float, zones: Sequence[str], window: CallingWindow) -> bool:
    """True when it is inside the window in every zone the callee may be in."""
    utc = datetime.fromtimestamp(now, UTC)
    return all(_open_at(utc.astimezone(zone(name)), window) for name in zones)


def next_window_opening(now: float, zones: Sequence[str], window: CallingWindow) -> float | None:
    """The first moment from ``now`` when the window is open in every zone; None within 8 days."""
    candidates = {now}
    for name in zones:
        local = datetime.fromtimestamp(now, UTC).astimezone(zone(name))
        for days_ahead in range(9):
            day = (local + timedelta(days=days_ahead)).date()
            opening = datetime.combine(day, window.start, tzinfo=zone(name))
            if opening.timestamp() >= now:
                candidates.add(opening.timestamp())
    for moment in sorted(candidates):
        if within_window(moment, zones, window):
            return moment
    return None


@dataclass(frozen=True, slots=True)
class DialCheck:
    """May this number be dialled now, and if not, why and when to look again."""

    allowed: bool
    reason: str | None = None
    retry_at: float | None = None
    final: bool = False
    """True when the lead must never be dialled (do-not-call)."""


def check_dial(
    number: str,
    zones: Sequence[str],
    window: CallingWindow,
    now: float,
    do_not_call: Collection[str],
) -> DialCheck:
    """The checks made just before a dial, whatever was checked at import."""
    if number in do_not_call:
        return DialCheck(False, "number is on the do-not-call list", final=True)
    if not within_window(now, zones, window):
        opening = next_window_opening(now, zones, window)
        return DialCheck(False, "outside the callee's calling window", retry_at=opening)
    return DialCheck(True)
