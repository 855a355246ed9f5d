"""Fifteen-minute intervals and roll-ups, including time zones and daylight-saving jumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cc_metrics.core.intervals import (
    Granularity,
    bucket_start,
    interval_start,
    intervals_between,
    next_bucket,
    split_span,
    whole_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


def test_interval_start_floors_to_quarter_hours() -> None:
    assert interval_start(utc(2025, 3, 3, 9, 14, 59, 999999)) == utc(2025, 3, 3, 9, 0)
    assert interval_start(utc(2025, 3, 3, 9, 15)) == utc(2025, 3, 3, 9, 15)
    local = datetime(2025, 3, 3, 10, 20, tzinfo=BERLIN)
    assert interval_start(local) == utc(2025, 3, 3, 9, 15)


def test_interval_start_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        interval_start(datetime(2025, 3, 3, 9, 0))


def test_split_span_divides_time_over_intervals() -> None:
    parts = split_span(utc(2025, 3, 3, 9, 10), utc(2025, 3, 3, 9, 50))
    assert parts == [
        (utc(2025, 3, 3, 9, 0), 300.0),
        (utc(2025, 3, 3, 9, 15), 900.0),
        (utc(2025, 3, 3, 9, 30), 900.0),
        (utc(2025, 3, 3, 9, 45), 300.0),
    ]
    assert split_span(utc(2025, 3, 3, 9, 10), utc(2025, 3, 3, 9, 10)) == []


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**6),
)
def test_split_span_keeps_every_second(start_s: int, length_ms: int) -> None:
    start = utc(2020, 1, 1) + timedelta(seconds=start_s)
    end = start + timedelta(milliseconds=length_ms)
    parts = split_span(start, end)
    assert sum(s for _, s in parts) == pytest.approx(length_ms / 1000)
    assert all(0 < s <= 900 for _, s in parts)


def test_buckets_in_utc() -> None:
    at = utc(2025, 3, 5, 13, 45)
    assert bucket_start(at, Granularity.MIN30, UTC) == utc(2025, 3, 5, 13, 30)
    assert bucket_start(at, Granularity.HOUR, UTC) == utc(2025, 3, 5, 13, 0)
    assert bucket_start(at, Granularity.DAY, UTC) == utc(2025, 3, 5)
    assert bucket_start(at, Granularity.WEEK, UTC) == utc(2025, 3, 3)  # Monday
    assert bucket_start(at, Granularity.MONTH, UTC) == utc(2025, 3, 1)


def test_days_follow_the_report_time_zone() -> None:
    # 23:15 UTC on 5 March is already 6 March in Berlin (UTC+1).
    assert bucket_start(utc(2025, 3, 5, 23, 15), Granularity.DAY, BERLIN) == utc(2025, 3, 5, 23)


def test_hours_in_a_zone_with_a_quarter_hour_offset() -> None:
    # Kathmandu is UTC+5:45: its hours start at :15 UTC.
    assert bucket_start(utc(2025, 3, 5, 4, 30), Granularity.HOUR, KATHMANDU) == utc(
        2025, 3, 5, 4, 15
    )
    assert bucket_start(utc(2025, 3, 5, 4, 0), Granularity.HOUR, KATHMANDU) == utc(
        2025, 3, 5, 3, 15
    )


def test_the_repeated_hour_when_clocks_go_back_gives_two_buckets() -> None:
    # Berlin, 26 Oct 2025: 02:00-03:00 local happens twice (00:00 and 01:00 UTC).
    first = bucket_start(utc(2025, 10, 26, 0, 30), Granularity.HOUR, BERLIN)
    second = bucket_start(utc(2025, 10, 26, 1, 30), Granularity.HOUR, BERLIN)
    assert (first, second) == (utc(2025, 10, 26, 0), utc(2025, 10, 26, 1))
    day = bucket_start(utc(2025, 10, 26, 12), Granularity.DAY, BERLIN)
    assert next_bucket(day, Granularity.DAY, BERLIN) - day == timedelta(hours=25)


def test_the_short_day_when_clocks_go_forward() -> None:
    day = bucket_start(utc(2025, 3, 30, 12), Granularity.DAY, BERLIN)
    assert day == utc(2025, 3, 29, 23)
    assert next_bucket(day, Granularity.DAY, BERLIN) - day == timedelta(hours=23)


@given(
    st.integers(min_value=0, max_value=4 * 365 * 96),
    st.sampled_from([g for g in Granularity if g is not Granularity.TOTAL]),
    st.sampled_from([UTC, BERLIN, KATHMANDU, ZoneInfo("America/New_York")]),
)
def test_every_interval_lies_inside_its_bucket(
    index: int, granularity: Granularity, zone: object
) -> None:
    interval = utc(2023, 1, 1) + timedelta(minutes=15 * index)
    start = bucket_start(interval, granularity, zone)  # type: ignore[arg-type]
    end = next_bucket(start, granularity, zone)  # type: ignore[arg-type]
    assert start <= interval < end
    assert interval_start(start) == start
    assert bucket_start(start, granularity, zone) == start  # type: ignore[arg-type]


def test_intervals_between_covers_partial_ends() -> None:
    got = list(intervals_between(utc(2025, 1, 1, 9, 5), utc(2025, 1, 1, 9, 31)))
    assert got == [utc(2025, 1, 1, 9, 0), utc(2025, 1, 1, 9, 15), utc(2025, 1, 1, 9, 30)]


def test_hour_sums_serve_reports_only_where_they_are_exact() -> None:
    start, end = utc(2025, 3, 1), utc(2025, 4, 1)
    assert whole_hours(start, end, Granularity.DAY, BERLIN)  # across the DST change
    assert not whole_hours(start, end, Granularity.DAY, ZoneInfo("Asia/Kolkata"))
    assert not whole_hours(start, end, Granularity.MIN30, UTC)
    assert not whole_hours(start + timedelta(minutes=15), end, Granularity.HOUR, UTC)
    assert whole_hours(start, end, Granularity.TOTAL, UTC)
