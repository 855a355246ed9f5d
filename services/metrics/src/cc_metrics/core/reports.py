"""Reports from interval facts: checking a request, rolling intervals up, computing the KPIs.

The rules a request must meet are here so every adapter (SQL on PostgreSQL, Python on SQLite)
answers the same question the same way: a range on 15-minute boundaries, start before end, a
granularity no finer than the data, a known time zone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cc_metrics.core.facts import Facts, add_facts
from cc_metrics.core.intervals import INTERVAL, Granularity, bucket_start, is_interval_boundary
from cc_metrics.core.kpis import ALL_FIGURES, KpiValue, Scope, compute_all
from cc_metrics.core.thresholds import Thresholds

MAX_BUCKETS = 50_000
"""A report with more rows than this is refused; ask for a coarser granularity."""


class BadReport(ValueError):
    """A report request that cannot be answered as asked; the message says why."""


_ALIASES = {
    "15min": Granularity.MIN15,
    "30min": Granularity.MIN30,
    "hour": Granularity.HOUR,
    "60m": Granularity.HOUR,
    "day": Granularity.DAY,
    "24h": Granularity.DAY,
    "week": Granularity.WEEK,
    "7d": Granularity.WEEK,
    "month": Granularity.MONTH,
}
_DURATION = re.compile(r"^(\d+)\s*(s|sec|m|min|h)$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_granularity(text: str) -> Granularity:
    """Return the granularity named by ``text`` or raise :class:`BadReport` saying why not."""
    value = text.strip().lower()
    try:
        return Granularity(value)
    except ValueError:
        pass
    if value in _ALIASES:
        return _ALIASES[value]
    match = _DURATION.match(value)
    if match and int(match[1]) * _UNIT_SECONDS[match[2]] < INTERVAL.total_seconds():
        raise BadReport(
            f"granularity {text!r} is finer than the data, which is kept per 15 minutes"
        )
    choices = ", ".join(g.value for g in Granularity)
    raise BadReport(f"unknown granularity {text!r}; use one of {choices}")


def parse_zone(name: str) -> tzinfo:
    """Return the IANA time zone ``name`` or raise :class:`BadReport`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadReport(f"unknown time zone {name!r}") from None


def check_range(start: datetime, end: datetime) -> None:
    """Raise :class:`BadReport` unless ``[start, end)`` is a real range of whole intervals."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BadReport("start and end need a UTC offset, e.g. 2025-03-01T00:00:00Z")
    if end <= start:
        raise BadReport(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    for name, at in (("start", start), ("end", end)):
        if not is_interval_boundary(at):
            raise BadReport(f"{name} must be on a 15-minute boundary (data is kept per 15 minutes)")
    if (end - start) / INTERVAL > MAX_BUCKETS * 96:
        raise BadReport("range too long")


def check_bucket_count(start: datetime, end: datetime, granularity: Granularity) -> None:
    """Refuse sub-daily reports so long they would be unreadable (and slow)."""
    sizes = {Granularity.MIN15: 1, Granularity.MIN30: 2, Granularity.HOUR: 4}
    size = sizes.get(granularity)
    if size is not None and (end - start) / (INTERVAL * size) > MAX_BUCKETS:
        raise BadReport(f"{granularity.value} over this range gives more than {MAX_BUCKETS} rows")


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One line of a report: a key (queue, agent, team or tenant), a bucket, its KPIs."""

    key: str
    bucket: datetime | None
    facts: Facts
    kpis: dict[str, KpiValue]


def rollup(
    rows: Iterable[tuple[str, datetime, Mapping[str, float]]],
    granularity: Granularity,
    zone: tzinfo,
) -> dict[tuple[str, datetime | None], Facts]:
    """Sum per-interval facts into report buckets (None for a total)."""
    out: dict[tuple[str, datetime | None], Facts] = {}
    for key, interval, facts in rows:
        bucket = (
            None if granularity is Granularity.TOTAL else bucket_start(interval, granularity, zone)
        )
        add_facts(out.setdefault((key, bucket), {}), facts)
    return out


def report_rows(
    buckets: Mapping[tuple[str, datetime | None], Facts],
    *,
    scope: Scope,
    thresholds: Thresholds,
    event_facts: Iterable[str],
    only: Collection[str] | None = None,
) -> list[ReportRow]:
    """Compute the KPIs (or ``only`` these) of every bucket; absent event facts are zero."""
    zero = dict.fromkeys(event_facts, 0.0)
    rows = []
    for (key, bucket), facts in sorted(buckets.items(), key=_order):
        full = {**zero, **facts}
        rows.append(ReportRow(key, bucket, full, compute_all(full, thresholds, scope, only)))
    return rows


def _order(item: tuple[tuple[str, datetime | None], Facts]) -> tuple[str, datetime]:
    (key, bucket), _ = item
    return key, bucket or datetime.min.replace(tzinfo=ZoneInfo("UTC"))


def figure_keys(scope: Scope) -> list[str]:
    """Return the KPI keys a report for ``scope`` carries, in the order of KPIs.md."""
    return [kpi.key for kpi in ALL_FIGURES if scope in kpi.scopes]


def empty_buckets(
    keys: Iterable[str], start: datetime, end: datetime, granularity: Granularity, zone: tzinfo
) -> list[tuple[str, datetime | None]]:
    """Return every (key, bucket) in the range, so buckets without events still get a row."""
    if granularity is Granularity.TOTAL:
        return [(key, None) for key in keys]
    starts: list[datetime] = []
    current = start
    while current < end:
        bucket = bucket_start(current, granularity, zone)
        if not starts or starts[-1] != bucket:
            starts.append(bucket)
        current += _step(granularity)
    return [(key, bucket) for key in keys for bucket in starts]


def _step(granularity: Granularity) -> timedelta:
    return {
        Granularity.MIN15: INTERVAL,
        Granularity.MIN30: INTERVAL * 2,
        Granularity.HOUR: INTERVAL * 4,
    }.get(granularity, timedelta(hours=1))
