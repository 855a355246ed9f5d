"""Fifteen-minute intervals by event time, and the roll-ups reports are grouped by.

Facts are kept per 15-minute interval (UTC-aligned, which is also aligned in every real time
zone, all offsets being whole quarter hours). A roll-up bucket is a union of whole intervals, so
summing interval facts into it is exact. Day, week (ISO, from Monday) and month boundaries are
taken in the report's time zone; 30-minute and hour buckets are taken on the local clock too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

INTERVAL = timedelta(minutes=15)
INTERVAL_SECONDS = 900
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = timedelta(microseconds=1)


class Granularity(StrEnum):
    """Bucket sizes a report can be grouped by; the data itself is kept per 15 minutes."""

    MIN15 = "15m"
    MIN30 = "30m"
    HOUR = "1h"
    DAY = "1d"
    WEEK = "1w"
    MONTH = "1mo"
    TOTAL = "total"


_SUB_HOUR_MINUTES = {Granularity.MIN15: 15, Granularity.MIN30: 30, Granularity.HOUR: 60}


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("instants must carry a time zone")


def interval_start(at: datetime) -> datetime:
    """Return the start (UTC) of the 15-minute interval that holds ``at``."""
    _require_aware(at)
    micros = (at - _EPOCH) // _MICROS
    step = INTERVAL // _MICROS
    return _EPOCH + (micros // step) * step * _MICROS


def hour_start(at: datetime) -> datetime:
    """Return the start (UTC) of the UTC hour that holds ``at``."""
    _require_aware(at)
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def is_interval_boundary(at: datetime) -> bool:
    """Return True when ``at`` starts a 15-minute interval."""
    return interval_start(at) == at


def intervals_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the start of every interval that overlaps ``[start, end)``."""
    current = interval_start(start)
    while current < end:
        yield current
        current += INTERVAL


def split_span(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Split ``[start, end)`` into (interval start, seconds inside it), for state time."""
    _require_aware(start)
    _require_aware(end)
    parts: list[tuple[datetime, float]] = []
    for begin in intervals_between(start, end):
        inside = min(end, begin + INTERVAL) - max(start, begin)
        if inside > timedelta(0):
            parts.append((begin, inside.total_seconds()))
    return parts


def bucket_start(interval: datetime, granularity: Granularity, zone: tzinfo) -> datetime:
    """Return the start (UTC) of the report bucket that holds the 15-minute ``interval``."""
    _require_aware(interval)
    if granularity is Granularity.TOTAL:
        raise ValueError("a total has no buckets")
    local = interval.astimezone(zone)
    minutes = _SUB_HOUR_MINUTES.get(granularity)
    if minutes is not None:
        # Subtract the local minutes past the bucket start: correct on either side of a DST jump.
        into = timedelta(minutes=local.minute % minutes, seconds=local.second)
        return (interval - into - timedelta(microseconds=local.microsecond)).astimezone(UTC)
    day = local.date()
    if granularity is Granularity.WEEK:
        day -= timedelta(days=day.weekday())
    elif granularity is Granularity.MONTH:
        day = day.replace(day=1)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def next_bucket(start: datetime, granularity: Granularity, zone: tzinfo) -> datetime:
    """Return the start (UTC) of the bucket after the one starting at ``start``."""
    minutes = _SUB_HOUR_MINUTES.get(granularity)
    if minutes is not None:
        return start + timedelta(minutes=minutes)
    local = start.astimezone(zone).date()
    if granularity is Granularity.DAY:
        nxt = local + timedelta(days=1)
    elif granularity is Granularity.WEEK:
        nxt = local + timedelta(days=7)
    elif granularity is Granularity.MONTH:
        nxt = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        raise ValueError("a total has no buckets")
    return datetime.combine(nxt, time(0), tzinfo=zone).astimezone(UTC)


_HOUR_BUCKETS = frozenset(
    {Granularity.HOUR, Granularity.DAY, Granularity.WEEK, Granularity.MONTH, Granularity.TOTAL}
)


def whole_hours(start: datetime, end: datetime, granularity: Granularity, zone: tzinfo) -> bool:
    """Return True when UTC-hour sums answer the report exactly.

    That holds when buckets are an hour or longer, the range starts and ends on the hour, and
    the zone's offset is a whole number of hours throughout the range (not India's +5:30).
    """
    if granularity not in _HOUR_BUCKETS or hour_start(start) != start or hour_start(end) != end:
        return False
    day = start
    while day <= end:
        offset = day.astimezone(zone).utcoffset() or timedelta(0)
        if offset.total_seconds() % 3600:
            return False
        day += timedelta(days=1)
    offset = end.astimezone(zone).utcoffset() or timedelta(0)
    return not offset.total_seconds() % 3600
