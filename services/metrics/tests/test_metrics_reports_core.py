"""Report requests are checked one way everywhere, and roll-ups are exact."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cc_metrics.core.facts import QUEUE_FACT_NAMES, answered_within
from cc_metrics.core.intervals import Granularity
from cc_metrics.core.kpis import Scope
from cc_metrics.core.reports import (
    BadReport,
    check_range,
    empty_buckets,
    parse_granularity,
    parse_zone,
    report_rows,
    rollup,
)
from cc_metrics.core.thresholds import Thresholds

NINE = datetime(2025, 3, 3, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15m", Granularity.MIN15), ("hour", Granularity.HOUR), ("1d", Granularity.DAY),
     ("week", Granularity.WEEK), ("1mo", Granularity.MONTH), ("total", Granularity.TOTAL)],
)  # fmt: skip
def test_granularities(text: str, expected: Granularity) -> None:
    assert parse_granularity(text) is expected


@pytest.mark.parametrize("text", ["5m", "1m", "300s", "10min"])
def test_a_granularity_finer_than_the_data_is_refused(text: str) -> None:
    with pytest.raises(BadReport, match="finer than the data"):
        parse_granularity(text)


def test_unknown_granularity_and_zone() -> None:
    with pytest.raises(BadReport, match="unknown granularity"):
        parse_granularity("fortnight")
    with pytest.raises(BadReport, match="unknown time zone"):
        parse_zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [
        (NINE, NINE, "must be after"),
        (NINE + timedelta(hours=1), NINE, "must be after"),
        (NINE + timedelta(minutes=5), NINE + timedelta(hours=1), "15-minute boundary"),
        (NINE.replace(tzinfo=None), NINE + timedelta(hours=1), "UTC offset"),
    ],
)
def test_bad_ranges(start: datetime, end: datetime, why: str) -> None:
    with pytest.raises(BadReport, match=why):
        check_range(start, end)


def test_rolling_up_sums_facts_so_the_kpi_of_a_day_is_exact() -> None:
    rng = random.Random(3)
    rows = []
    for i in range(96):
        offered = rng.randint(0, 40)
        answered = rng.randint(0, offered)
        rows.append(("sales", NINE.replace(hour=0) + timedelta(minutes=15 * i),
                     {"offered": offered, "answered": answered,
                      answered_within(20): rng.randint(0, answered)}))  # fmt: skip
    day = rollup(rows, Granularity.DAY, UTC)
    assert list(day) == [("sales", NINE.replace(hour=0))]
    facts = day[("sales", NINE.replace(hour=0))]
    assert facts["offered"] == sum(r[2]["offered"] for r in rows)
    [row] = report_rows(
        day, scope=Scope.QUEUE, thresholds=Thresholds(), event_facts=QUEUE_FACT_NAMES
    )
    expected = sum(r[2][answered_within(20)] for r in rows) / facts["offered"]
    assert row.kpis["service_level"].value == pytest.approx(expected)
    hours = rollup(rows, Granularity.HOUR, UTC)
    assert len(hours) == 24
    assert sum(f["offered"] for f in hours.values()) == facts["offered"]


def test_empty_buckets_cover_the_range_in_the_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 3, 2, 23, tzinfo=UTC)  # Monday 00:00 in Berlin
    buckets = empty_buckets(["q"], start, start + timedelta(days=3), Granularity.DAY, berlin)
    assert [b for _, b in buckets] == [start + timedelta(days=i) for i in range(3)]
    assert empty_buckets(["q"], start, start + timedelta(days=3), Granularity.TOTAL, berlin) == [
        ("q", None)
    ]
